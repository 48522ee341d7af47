"""Readable case ids: `AS` + local date + a short random part, e.g. AS20261001K7Q3XZ2M."""

from __future__ import annotations

import secrets
from datetime import datetime

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: ids get read out on the phone


def new_case_id(now: datetime) -> str:
    suffix = "".join(secrets.choice(ALPHABET) for _ in range(8))
    return f"AS{now:%Y%m%d}{suffix}"
