"""`aftersales` security commands, run as an operator runs them, on a store of their own."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from cli import main as cli
from core.settings import Settings, get_settings
from store import cases, codec_access, keys, webhooks
from store.configured import vault_for
from store.db import get_engine, make_session_factory
from tests.store import factories as f
from tests.support.keys import TEST_CODEC_KEYS, TEST_LOOKUP_HASH_KEY


@pytest.fixture
def operator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The environment of an operator's shell: a SQLite store and the test keys."""
    for name, value in {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cases.db'}",
        "AFTERSALES_LOCAL_DIR": str(tmp_path / "local"),
        "AFTERSALES_CODEC_KEYS": TEST_CODEC_KEYS,
        "AFTERSALES_LOOKUP_HASH_KEY": TEST_LOOKUP_HASH_KEY,
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out + out.err


def store(settings: Settings) -> sessionmaker[Session]:
    return make_session_factory(get_engine(settings.resolved_database_url), vault_for(settings))


def test_a_key_that_may_decode_personal_data_is_created_on_purpose(
    operator: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(capsys, "keys", "create", "--role", "ops", "--decode-personal", "--label", "li (ops)")
    assert code == 0 and "[decode_personal]" in out
    key = out.split(": ", 1)[1].split()[0]
    plain_code, _ = run(capsys, "keys", "create", "--role", "ops")
    with store(operator)() as session:
        row = keys.find_api_key(session, key)
        assert row is not None and keys.permissions_of(row) == {"decode_personal"}
    assert plain_code == 0
    listed = run(capsys, "keys", "list")[1].splitlines()
    assert sorted(line.split("\t")[3] for line in listed) == ["-", "decode_personal"]
    with pytest.raises(SystemExit):  # only the codec's roles may hold it
        cli.main(["keys", "create", "--role", "agent", "--decode-personal"])


def test_the_decode_record_is_read_by_workflow(
    operator: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "keys", "list")  # migrates the store
    with store(operator).begin() as session:
        for workflows, revealed in (
            (["case-AS20261122AAAA0001"], True),
            (["case-AS20261122BBBB0002"], False),
        ):
            codec_access.record_codec_decode(
                session, actor="ops:key_1", key_id="key_1", via="codec_session", namespace="default",
                workflow_ids=workflows, payloads=3, personal_revealed=revealed,
            )  # fmt: skip
    code, out = run(capsys, "audit", "decodes", "--workflow", "case-AS20261122AAAA0001")
    assert code == 0 and len(out.splitlines()) == 1
    assert "ops:key_1\tcodec_session\tcase-AS20261122AAAA0001\tpersonal data shown" in out
    assert len(run(capsys, "audit", "decodes")[1].splitlines()) == 2


NEW_KEY = "k2:" + "Qk" * 21 + "Q="


def test_an_old_codec_key_is_retired_after_the_data_keys_are_rewrapped(
    operator: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run(capsys, "keys", "list")  # migrates the store
    cid = f.case_id()
    with store(operator).begin() as session:
        cases.create_case(
            session, cid, f"case-{cid}", None, f.case_request(), f.initial_view(cid, f.case_request())
        )
    assert "test-1\t1 data key(s) (current)" in run(capsys, "data-keys", "status")[1]
    monkeypatch.setenv("AFTERSALES_CODEC_KEYS", f"{TEST_CODEC_KEYS},{NEW_KEY}")  # k2 is now current
    get_settings.cache_clear()
    code, out = run(capsys, "data-keys", "rewrap")
    assert code == 0 and "re-wrapped 1 data key(s)" in out and "k2\t1 data key(s) (current)" in out
    assert "test-1" not in out.split("current codec key", 1)[1]
    monkeypatch.setenv("AFTERSALES_CODEC_KEYS", NEW_KEY)  # test-1 retired
    get_settings.cache_clear()
    with store(get_settings())() as session:
        row = cases.get_case(session, cid)
        assert row is not None and cases.request_of(session, row)["contact"]["name"] == "张三"


def test_an_old_codec_key_is_retired_after_the_webhook_secrets_are_resealed_too(
    operator: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run(capsys, "keys", "list")  # migrates the store
    now = datetime.now(UTC)
    with store(operator).begin() as session:
        row, first = webhooks.create_subscription(
            session,
            url="https://hooks.example.com/a",
            event_kinds=[],
            description="crm",
            enabled=True,
            actor="ops:test",
            now=now,
        )
        # Rotated with a day's overlap: the previous secret still signs, so it must stay readable.
        second = webhooks.rotate_secret(session, row, timedelta(days=1), "ops:test", now)
        subscription_id = row.id
    assert "test-1\t0 data key(s), 2 webhook secret(s) (current)" in run(capsys, "data-keys", "status")[1]
    monkeypatch.setenv("AFTERSALES_CODEC_KEYS", f"{TEST_CODEC_KEYS},{NEW_KEY}")  # k2 is now current
    get_settings.cache_clear()
    code, out = run(capsys, "data-keys", "rewrap")
    assert code == 0 and "re-wrapped 0 data key(s), 1 webhook secret(s)" in out, out
    assert "k2\t0 data key(s), 2 webhook secret(s) (current)" in out
    assert "test-1" not in out.split("current codec key", 1)[1]
    assert "re-wrapped 0 data key(s), 0 webhook secret(s)" in run(capsys, "data-keys", "rewrap")[1]
    monkeypatch.setenv("AFTERSALES_CODEC_KEYS", NEW_KEY)  # test-1 retired
    get_settings.cache_clear()
    with store(get_settings())() as session:
        found = webhooks.get_subscription(session, subscription_id)
        assert found is not None
        assert webhooks.signing_secrets(session, found, now) == [second, first]  # the same secrets


def test_personal_data_stored_before_sealing_is_sealed_by_one_command(
    operator: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "keys", "list")
    cid = f.case_id()
    request = f.case_request()
    with store(operator).begin() as session:
        cases.create_case(session, cid, f"case-{cid}", None, request, f.initial_view(cid, request))
        # As the previous version stored it: plain request, no data key, no phone hash.
        session.execute(text("DELETE FROM case_data_keys WHERE case_id = :c"), {"c": cid})
        session.execute(
            text("UPDATE cases SET request = :r, contact_phone_hash = NULL WHERE case_id = :c"),
            {"r": request.model_dump_json(), "c": cid},
        )
    code, out = run(capsys, "data-keys", "seal-legacy")
    assert code == 0 and "sealed the personal data of 1 case(s)" in out
    with store(operator)() as session:
        raw = session.execute(text("SELECT request FROM cases WHERE case_id = :c"), {"c": cid}).scalar()
        assert "138" not in str(raw) and [
            r.case_id for r in cases.find_cases_by_phone(session, "+8613800000000")
        ] == [cid]
    assert "sealed the personal data of 0 case(s)" in run(capsys, "data-keys", "seal-legacy")[1]
