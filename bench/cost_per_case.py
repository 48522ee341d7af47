"""Cost per case: history events and Temporal billable actions per resolution path.

Counts from recorded histories (tests/histories, refreshed with `RECORD_HISTORIES=1 make test`), so
the figures can be compared release to release:

    .venv/bin/python -m bench.cost_per_case [history.json ...]

Billable actions (Temporal Cloud pricing model, docs.temporal.io/cloud/actions): workflow start, each
timer, each signal, each accepted update, each search-attribute upsert, each activity attempt, each
child workflow (2), and local activities: all the local activities (markers) of one workflow task
count as one action, plus one per retried local-activity attempt. "actions" is that whole count;
"w/o local" leaves local activities out (the count the issue's first figures used, before the case
had any). "local" counts local-activity markers, "store" the case-store writes among activities and
markers (`record_case_progress` activities before, `record_case_delta` local activities now).
"""

from __future__ import annotations

import base64
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

STORE_WRITES = {"record_case_progress", "record_case_delta"}
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
    markers = [local_activity(e) for e in events if e["eventType"] == "EVENT_TYPE_MARKER_RECORDED"]
    local = [m for m in markers if m is not None]
    store = sum(
        1
        for e in events
        if e["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"
        and e["activityTaskScheduledEventAttributes"]["activityType"]["name"] in STORE_WRITES
    ) + sum(1 for m in local if m["activity_type"] in STORE_WRITES)
    local_actions = len({m["task"] for m in local}) + sum(m["attempt"] - 1 for m in local)
    without_local = (
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
        "actions": without_local + local_actions,
        "w/o local": without_local,
        "local": len(local),
        "activities": kinds["EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"],
        "store": store,
        "timers": kinds["EVENT_TYPE_TIMER_STARTED"],
        "updates": kinds["EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED"],
        "upserts": kinds["EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES"],
    }


def local_activity(event: dict[str, Any]) -> dict[str, Any] | None:
    """A local-activity marker's type, attempt and workflow task; None for other markers."""
    attributes = event["markerRecordedEventAttributes"]
    if attributes.get("markerName") != "core_local_activity":
        return None
    data = json.loads(base64.b64decode(attributes["details"]["data"]["payloads"][0]["data"]))
    return {
        "activity_type": data["activity_type"],
        "attempt": int(data.get("attempt") or 1),
        "task": attributes.get("workflowTaskCompletedEventId"),
    }


def main(argv: list[str]) -> int:
    paths = [Path(p) for p in argv] or sorted(
        p for p in HISTORIES.glob("*.json") if not p.name.startswith("v1_")
    )
    columns = ["events", "actions", "w/o local", "activities", "local", "store", "timers", "updates"]
    columns += ["upserts", "kbytes"]
    print(f"{'path':<34}" + "".join(f"{c:>11}" for c in columns))
    for path in paths:
        row = count(path)
        print(f"{path.stem:<34}" + "".join(f"{row[c]:>11}" for c in columns))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
