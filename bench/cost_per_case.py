"""Cost per case: history events and Temporal billable actions per resolution path.

Counts from recorded histories (tests/histories, refreshed with `RECORD_HISTORIES=1 make test`), so
the figures can be compared release to release:

    .venv/bin/python -m bench.cost_per_case [history.json ...]

Billable actions (Temporal Cloud pricing model): workflow start, each timer, each signal, each
accepted update, each search-attribute upsert, each activity attempt, each child workflow (2).
The "store" column shows how many activities are case-store writes: the main lever on cost.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

HISTORIES = Path(__file__).resolve().parent.parent / "tests" / "histories"


def count(path: Path) -> dict[str, int]:
    events = json.loads(path.read_text())["events"]
    return {**count_events(events), "kbytes": path.stat().st_size // 1024}


def count_events(events: list[dict[str, Any]]) -> dict[str, int]:
    """The counts of one history's events (JSON form, as `History.to_json_dict()["events"]`)."""
    kinds = Counter(e["eventType"] for e in events)
    attempts = sum(
        int(e.get("activityTaskStartedEventAttributes", {}).get("attempt", 1))
        for e in events
        if e["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_STARTED"
    )
    store = sum(
        1
        for e in events
        if e["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"
        and e["activityTaskScheduledEventAttributes"]["activityType"]["name"] == "record_case_progress"
    )
    actions = (
        kinds["EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"]
        + kinds["EVENT_TYPE_TIMER_STARTED"]
        + kinds["EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED"]
        + kinds["EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED"]
        + kinds["EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES"]
        + attempts
        + 2 * kinds["EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED"]
    )
    return {
        "events": len(events),
        "actions": actions,
        "activities": kinds["EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"],
        "store": store,
        "timers": kinds["EVENT_TYPE_TIMER_STARTED"],
        "updates": kinds["EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED"],
        "upserts": kinds["EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES"],
    }


def main(argv: list[str]) -> int:
    paths = [Path(p) for p in argv] or sorted(
        p for p in HISTORIES.glob("*.json") if not p.name.startswith("v1_")
    )
    columns = ["events", "actions", "activities", "store", "timers", "updates", "upserts", "kbytes"]
    print(f"{'path':<34}" + "".join(f"{c:>11}" for c in columns))
    for path in paths:
        row = count(path)
        print(f"{path.stem:<34}" + "".join(f"{row[c]:>11}" for c in columns))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
