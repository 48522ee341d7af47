"""`aftersales people`: an operator creates, lists and deactivates people on a store of their own."""

from __future__ import annotations

import pytest

from cli import main as cli
from core.settings import Settings, get_settings
from store import keys
from tests.support.servers import free_port
from tests.test_cli_security import operator, run, store

__all__ = ["operator"]  # the fixture, used by name


def test_an_operator_adds_an_agent_with_a_key_lists_and_deactivates_them(
    operator: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AFTERSALES_TEMPORAL_ADDRESS", f"127.0.0.1:{free_port()}")  # nothing listens there
    get_settings.cache_clear()
    code, out = run(capsys, "people", "create", "--name", "Li Na", "--role", "agent", "--skill", "refunds",
                    "--id", "P-li", "--with-key")  # fmt: skip
    assert code == 0 and out.startswith("P-li agent Li Na")
    key = out.splitlines()[1].split(": ", 1)[1]
    with store(operator)() as session:
        row = keys.find_api_key(session, key)
        assert row is not None and (row.person_id, row.role) == ("P-li", "agent")

    assert run(capsys, "people", "create", "--name", "Li Na", "--role", "agent", "--id", "P-li")[0] == 1
    listed = run(capsys, "people", "list")[1].splitlines()
    assert listed == ["P-li\tagent\trefunds\toffline\tactive\tLi Na"]

    code, out = run(capsys, "people", "deactivate", "P-li", "--no-handback")
    assert code == 0 and "1 key(s) revoked" in out
    with store(operator)() as session:
        assert keys.find_api_key(session, key) is None
    assert run(capsys, "people", "list")[1] == ""
    assert "deactivated" in run(capsys, "people", "list", "--all")[1]
    assert run(capsys, "people", "key", "P-li")[0] == 1
    assert run(capsys, "people", "deactivate", "P-nobody")[0] == 1
    # With Temporal out of reach the person stays deactivated and the command says to run it again.
    code, out = run(capsys, "people", "deactivate", "P-li")
    assert code == 2 and "run the command again" in out


def test_bad_people_input_is_refused_before_anything_is_written(operator: Settings) -> None:
    for argv in (
        ["people", "create", "--name", "X", "--role", "merchant"],
        ["people", "create", "--name", "X", "--role", "agent", "--skill", "Bad Queue"],
        ["people", "create", "--name", "X", "--role", "agent", "--id", "no spaces"],
    ):
        with pytest.raises(SystemExit):
            cli.main(argv)
