"""Builds the worker: one task queue, the case workflow and every activity with its dependencies."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker

from activities import contracts as c
from activities.calendars import CalendarActivities
from activities.case_store import CaseStoreActivities
from activities.provider_client import ProviderClient
from activities.providers import ProviderActivities
from core.settings import Settings
from workflows.case_workflow import CaseWorkflow

WORKFLOWS = [CaseWorkflow]


def activities_by_name(
    sessions: sessionmaker[Session], provider: ProviderClient
) -> dict[str, Callable[..., Any]]:
    """Every activity under its registered name (tests replace one by registering a fake of that name)."""
    store = CaseStoreActivities(sessions)
    calendars = CalendarActivities(sessions)
    providers = ProviderActivities(sessions, provider)
    return {
        c.RECORD_PROGRESS: store.record_progress,
        c.RECLAIM_LINES: store.reclaim_lines,
        c.LOAD_CALENDARS: calendars.load_calendars,
        c.EXECUTE_REFUND: providers.execute_refund,
        c.SEND_NOTIFICATION: providers.send_notification,
        c.CREATE_RETURN_LABEL: providers.create_return_label,
        c.CREATE_SHIPMENT: providers.create_shipment,
        c.ISSUE_CREDIT: providers.issue_credit,
    }


def activities_for(sessions: sessionmaker[Session], provider: ProviderClient) -> list[Callable[..., Any]]:
    return list(activities_by_name(sessions, provider).values())


def build_worker(
    client: Client,
    settings: Settings,
    sessions: sessionmaker[Session],
    provider: ProviderClient,
    task_queue: str | None = None,
) -> Worker:
    return Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        workflows=WORKFLOWS,
        activities=activities_for(sessions, provider),
        # Store and provider calls are blocking (SQLAlchemy, httpx): run them in threads.
        activity_executor=ThreadPoolExecutor(max_workers=settings.worker_activity_threads),
        # More slots than threads would only queue activities inside the worker.
        max_concurrent_activities=min(
            settings.worker_max_concurrent_activities, settings.worker_activity_threads
        ),
        max_concurrent_workflow_tasks=settings.worker_max_concurrent_workflow_tasks,
        max_cached_workflows=settings.worker_max_cached_workflows,
    )
