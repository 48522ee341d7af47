"""Builds the worker: one task queue, the case workflow and every activity with its dependencies."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker

from activities.calendars import CalendarActivities
from activities.case_store import CaseStoreActivities
from activities.provider_client import ProviderClient
from activities.providers import ProviderActivities
from core.settings import Settings
from workflows.case_workflow import CaseWorkflow

WORKFLOWS = [CaseWorkflow]


def activities_for(sessions: sessionmaker[Session], provider: ProviderClient) -> list[Callable[..., Any]]:
    store = CaseStoreActivities(sessions)
    calendars = CalendarActivities(sessions)
    providers = ProviderActivities(sessions, provider)
    return [
        store.record_progress,
        calendars.load_calendars,
        providers.execute_refund,
        providers.send_notification,
        providers.create_return_label,
        providers.create_shipment,
        providers.issue_credit,
    ]


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
