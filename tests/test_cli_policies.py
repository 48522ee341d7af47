"""`aftersales policies`: an operator creates versions of a merchant's policy, reads the history and
the policy in force; a policy that cannot work is refused and nothing is stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.settings import Settings
from tests.test_cli_security import operator, run

__all__ = ["operator"]  # the fixture, used by name


def test_an_operator_creates_versions_and_reads_them_back(
    operator: Settings, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    first = tmp_path / "v1.json"
    first.write_text(json.dumps({"no_reason_return_days": 10, "excluded_categories": ["fresh_food"]}))
    code, out = run(capsys, "policies", "create", "--merchant", "M-100", "--file", str(first),
                    "--effective-from", "2026-01-01T00:00:00+08:00")  # fmt: skip
    assert code == 0 and out.startswith("merchant M-100 v1 effective 2026-01-01T00:00:00+08:00")
    second = tmp_path / "v2.json"
    second.write_text(json.dumps({"no_reason_return_days": 12}))
    assert run(capsys, "policies", "create", "--merchant", "M-100", "--file", str(second))[0] == 0

    code, out = run(capsys, "policies", "history", "--merchant", "M-100")
    versions = [json.loads(line) for line in out.splitlines()]
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[1]["document"] == {"no_reason_return_days": 10, "excluded_categories": ["fresh_food"]}

    code, out = run(capsys, "policies", "show", "--merchant", "M-100")
    shown = json.loads(out)
    assert shown["version"] == "merchant:M-100:v2"
    assert shown["provenance"]["no_reason_return_days"] == "merchant M-100 v2"
    # A version is the level's whole document: what v2 leaves out comes from the levels below, not v1.
    assert shown["provenance"]["excluded_categories"] == "default"


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"limits": {"awaiting_inspection": {"hours": "0"}}}, "limits.awaiting_inspection.hours"),
        (
            {"limits": {"awaiting_approval": {"hours": "4", "on_breach": "auto_pass"}}},
            "limits.awaiting_approval.on_breach",
        ),
        ({"approval_tiers": [{"role": "manager"}, {"role": "supervisor"}]}, "approval_tiers.0.up_to"),
    ],
)
def test_a_policy_that_cannot_work_is_refused_and_nothing_is_stored(
    operator: Settings,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    document: dict[str, object],
    field: str,
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(document))
    code, out = run(capsys, "policies", "create", "--file", str(bad))
    assert code == 1 and field in out, out
    assert run(capsys, "policies", "history")[1] == ""
