"""What the codec server shows of decoded payloads, and which workflows they belong to.

Personal data in decoded payloads (JSON, `json/plain`) is masked unless the caller holds the
`decode_personal` permission: the contact's name, phone and address as in the API, customer free text
(`description`, `text`) and everything under `private`. Payloads in other encodings carry no
customer data of ours (null, protobuf, binary markers) and pass as they are.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from temporalio.api.common.v1 import Payload

from api.masking import mask_personal
from core.codec import workflow_id_of
from domain.names import workflow_id_for

JSON_ENCODING = b"json/plain"
CASE_ID = re.compile(r"^AS\d{8}[0-9A-Z]{4,16}$")
MAX_WORKFLOW_IDS = 50  # per decode record; the UI decodes one workflow's payloads at a time


@dataclass(frozen=True)
class Shown:
    payloads: list[Payload]
    personal_fields: int  # personal fields found in the decoded payloads (shown in full or masked)


def show(decoded: Sequence[Payload], reveal: bool) -> Shown:
    """The decoded payloads as the caller may see them."""
    shown: list[Payload] = []
    found = 0
    for payload in decoded:
        document = _json_of(payload)
        if document is None:
            shown.append(payload)
            continue
        masked, count = mask_personal(document)
        found += count
        if reveal or count == 0:
            shown.append(payload)
        else:
            data = json.dumps(masked, ensure_ascii=False, separators=(",", ":")).encode()
            shown.append(Payload(metadata=dict(payload.metadata), data=data))
    return Shown(shown, found)


def workflow_ids(encoded: Sequence[Payload], decoded: Sequence[Payload]) -> list[str]:
    """The workflows a decode was for: each payload's as named in its metadata (written by the codec,
    which knows its serialization context), else the `case_id` values in its decoded JSON (payloads
    written before the codec named workflows)."""
    found: set[str] = set()
    for sealed, plain in zip(encoded, decoded, strict=True):
        named = workflow_id_of(sealed)
        found |= {named} if named else {workflow_id_for(case_id) for case_id in _case_ids(_json_of(plain))}
    return sorted(found)[:MAX_WORKFLOW_IDS]


def _json_of(payload: Payload) -> Any:
    if payload.metadata.get("encoding") != JSON_ENCODING:
        return None
    try:
        return json.loads(payload.data)
    except ValueError:
        return None


def _case_ids(value: Any) -> set[str]:
    if isinstance(value, list):
        return set().union(*(_case_ids(item) for item in value)) if value else set()
    if not isinstance(value, dict):
        return set()
    found = set().union(*(_case_ids(item) for item in value.values())) if value else set()
    case_id = value.get("case_id")
    if isinstance(case_id, str) and CASE_ID.match(case_id):
        found.add(case_id)
    return found
