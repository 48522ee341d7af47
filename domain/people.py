"""People who work cases (DESIGN §9): their roles, skills and presence. Pure rules, no I/O."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import Field

from domain.enums import Actor
from domain.modelbase import DomainModel

# Roles a person may hold; systems (shop fronts, order systems) and merchants act through keys only.
PERSON_ROLES = (Actor.AGENT, Actor.SUPERVISOR, Actor.MANAGER, Actor.DISPUTE, Actor.OPS)
PERSON_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
QUEUE_NAME = re.compile(r"^[a-z0-9_-]{1,40}$")
EVERY_QUEUE = "*"  # the skill of a person who may work every queue


class Presence(StrEnum):
    ONLINE = "online"
    AWAY = "away"
    OFFLINE = "offline"


def shown_presence(
    presence: Presence, last_seen_at: datetime | None, now: datetime, away_after: timedelta
) -> Presence:
    """What others see: a person `online` with no request for `away_after` is shown `away`
    (seed 003: away from the desk); what they set themselves otherwise."""
    if presence == Presence.ONLINE and (last_seen_at is None or now - last_seen_at >= away_after):
        return Presence.AWAY
    return presence


def has_skill(skills: list[str], queue: str) -> bool:
    return EVERY_QUEUE in skills or queue in skills


def skill_problem(skill: str) -> str | None:
    if skill == EVERY_QUEUE or QUEUE_NAME.match(skill):
        return None
    return f"{skill!r} is not a queue name (lowercase letters, digits, _ and -, at most 40) or {EVERY_QUEUE}"


class HandbackInput(DomainModel):
    """A person went `offline` (or was deactivated): after the grace period, their open cases go
    back to their queues unless they are back by then."""

    person_id: str
    grace_seconds: float = Field(ge=0)
    why: Literal["offline", "deactivated"]


class HandbackOutcome(DomainModel):
    person_id: str
    released: list[str] = Field(default_factory=list)  # cases signalled to release
    not_signalled: list[str] = Field(default_factory=list)  # closed meanwhile (no running case)
    kept_because: str | None = None  # why nothing was handed back (the person is back)
