"""A case's conversation (DESIGN §9, seeds 000 §1.1 and 003): who may say what to whom, who may read
it, and the first-response clock of a customer message. Pure rules, no I/O.

Parties: the customer (their messages come from the shop front's `system` key), the merchant (its own
key) and the platform (agents, supervisors, the dispute team). A message's visibility says which
thread it is in: `customer` (the customer and the platform), `merchant` (the merchant and the
platform) or `internal` (the platform only: notes). An internal message never reaches a customer or a
merchant, through any endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from domain.calendar import (
    CalendarSnapshot,
    add_working_hours,
    counting_start,
    is_working_time,
    local_date,
    to_local,
    working_time_between,
)
from domain.enums import Actor


class Party(StrEnum):
    CUSTOMER = "customer"
    MERCHANT = "merchant"
    PLATFORM = "platform"


class Visibility(StrEnum):
    INTERNAL = "internal"
    CUSTOMER = "customer"
    MERCHANT = "merchant"


class Channel(StrEnum):
    SMS = "sms"
    EMAIL = "email"
    PUSH = "push"


# The calendar first responses count on (domain.calendar_source.SERVICE_DESK; not imported from there:
# workflow code never imports the calendar source, which reads holiday data).
DESK_CALENDAR = "service_desk"
PLATFORM_ROLES = frozenset({Actor.AGENT, Actor.SUPERVISOR, Actor.MANAGER, Actor.DISPUTE})
# Who may post: the customer (relayed by the shop front), the merchant, the platform. Ops only read.
POSTING_ROLES = frozenset({Actor.SYSTEM, Actor.MERCHANT}) | PLATFORM_ROLES


def party_of(role: Actor) -> Party:
    if role == Actor.SYSTEM:
        return Party.CUSTOMER  # the shop front relays what the customer writes
    if role == Actor.MERCHANT:
        return Party.MERCHANT
    return Party.PLATFORM


def visibility_problem(party: Party, visibility: Visibility) -> str | None:
    """Why `party` may not post into `visibility`'s thread (None when it may)."""
    if party == Party.CUSTOMER and visibility != Visibility.CUSTOMER:
        return "a customer message is in the customer thread (visibility customer)"
    if party == Party.MERCHANT and visibility != Visibility.MERCHANT:
        return "a merchant message is in the merchant thread (visibility merchant)"
    return None


def reader_sees(role: Actor, visibility: Visibility) -> bool:
    """A merchant reads its thread, the shop front the customer's; the platform and ops read all."""
    if role == Actor.MERCHANT:
        return visibility == Visibility.MERCHANT
    if role == Actor.SYSTEM:
        return visibility == Visibility.CUSTOMER
    return True


def is_outbound(party: Party, visibility: Visibility) -> bool:
    """The platform writes to the customer or the merchant: sent through the messaging provider."""
    return party == Party.PLATFORM and visibility != Visibility.INTERNAL


def is_reply_to_customer(party: Party, visibility: Visibility) -> bool:
    """What stops a customer message's first-response clock: the platform answers the customer."""
    return party == Party.PLATFORM and visibility == Visibility.CUSTOMER


@dataclass(frozen=True)
class ReplyFacts:
    """When a customer message must be answered, and the seed-003 facts the scorecard counts."""

    due_at: datetime  # the limit on the service-desk calendar (15 working minutes by default)
    counts_on: date  # the working day whose figures it counts to (after 18:00: the next)
    night: bool  # arrived after the cutoff or outside desk hours
    night_due_at: datetime | None  # a night message must be answered by 12:00 of the day it counts to


def reply_facts(
    desk: CalendarSnapshot,
    received: datetime,
    limit: timedelta,
    cutoff: time = time(18, 0),
    night_deadline: time = time(12, 0),
) -> ReplyFacts:
    """The first-response clock of a customer message received at `received`.

    The limit counts working time on the service-desk calendar only (its nights do not count: a
    message at 22:59 with the desk open until 23:00 is due at 09:14 with a 15-minute limit). Seed
    003's facts: a message at or after `cutoff` counts to the next working day's figures, and a
    night message (after the cutoff, or outside desk hours) must be answered by `night_deadline` of
    the day it counts to.
    """
    start = counting_start(desk, received, cutoff)
    counts_on = local_date(desk, start)
    night = counts_on != to_local(desk, received).date() or not is_working_time(desk, received)
    night_due_at = None
    if night:
        night_due_at = datetime.combine(counts_on, night_deadline, tzinfo=desk.tz)
    return ReplyFacts(add_working_hours(desk, received, limit), counts_on, night, night_due_at)


def first_response(desk: CalendarSnapshot, received: datetime, replied: datetime) -> timedelta:
    """FRT: the working time on the service-desk calendar from the message to the first reply."""
    return working_time_between(desk, received, replied)


def customer_channel(phone: str | None, email: str | None, preferred: str | None) -> Channel:
    """The channel a message to the customer goes on: the one they chose when it can reach them,
    else SMS to their phone, e-mail, or app push to their account."""
    reachable = {Channel.SMS: phone, Channel.EMAIL: email, Channel.PUSH: "account"}
    if preferred in reachable and reachable[Channel(preferred)]:
        return Channel(preferred)
    return Channel.SMS if phone else Channel.EMAIL if email else Channel.PUSH
