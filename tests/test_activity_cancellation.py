"""Cancelling an activity never raises into the thread that runs it (activities/definition.py).

The SDK would raise `CancelledError` into a sync activity's thread at whatever bytecode it was
running; in the middle of taking SQLite's writer turn that leaked the turn and stalled every later
write of the worker. Each activity runs to its end instead (they are short and idempotent)."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity

from activities.provider_client import ProviderClient
from workers.build import activities_by_name


def test_no_activity_of_the_worker_is_cancelled_by_an_exception_raised_into_its_thread(
    sessions: sessionmaker[Session], provider: ProviderClient
) -> None:
    registered = activities_by_name(sessions, provider)
    assert len(registered) >= 17
    raised_into = [
        name
        for name, function in registered.items()
        if not activity._Definition.must_from_callable(function).no_thread_cancel_exception
    ]
    assert raised_into == []
