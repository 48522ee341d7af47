"""Builds the worker: one task queue, the case and reply-clock workflows and every activity with its
dependencies."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker

from activities import contracts as c
from activities.assignment import AssignmentActivities
from activities.calendars import CalendarActivities
from activities.case_store import CaseStoreActivities
from activities.conversation import ConversationActivities
from activities.provider_client import ProviderClient
from activities.providers import ProviderActivities
from activities.reports import ReportActivities
from core.settings import Settings
from domain.quality import QualityPolicy
from workers import payload_passes
from workers.sandbox import case_workflow_runner
from workflows.case_workflow import CaseWorkflow
from workflows.handback import HandbackWorkflow
from workflows.reply_clock import ReplyClockWorkflow
from workflows.reports import ReportsWorkflow

WORKFLOWS = [CaseWorkflow, ReplyClockWorkflow, HandbackWorkflow, ReportsWorkflow]
# AFTERSALES_PRESENCE_AWAY_AFTER_SECONDS's default, for callers without settings (tests).
AWAY_AFTER = timedelta(seconds=Settings.model_fields["presence_away_after_seconds"].default)


def activities_by_name(
    sessions: sessionmaker[Session],
    provider: ProviderClient,
    wake_relay: Callable[[], None] | None = None,
    away_after: timedelta = AWAY_AFTER,
    quality_policy: QualityPolicy | None = None,
    wake_webhooks: Callable[[], None] | None = None,
) -> dict[str, Callable[..., Any]]:
    """Every activity under its registered name (tests replace one by registering a fake of that name).

    `wake_relay` is called after a store write queued notifications (the worker's outbox relay);
    `away_after` is when an `online` person is shown `away` (auto-assignment skips them);
    `quality_policy` samples closed cases for quality review; `wake_webhooks` is called after a
    store write recorded events (the worker's webhook relay).
    """
    store = CaseStoreActivities(sessions, wake_relay, quality_policy, wake_webhooks)
    assignment = AssignmentActivities(sessions, away_after)
    calendars = CalendarActivities(sessions)
    providers = ProviderActivities(sessions, provider)
    conversation = ConversationActivities(sessions, wake_relay)
    reporting = ReportActivities(sessions, wake_relay)
    return {
        c.REPORTS_DUE: reporting.reports_due,
        c.BUILD_REPORT: reporting.build_report,
        c.REPLY_CLOCK_STARTED: conversation.started,
        c.REPLY_CLOCK_DUE: conversation.due,
        c.REPLY_CLOCK_ANSWERED: conversation.answered,
        c.RECORD_PROGRESS: store.record_progress,
        c.RECORD_DELTA: store.record_delta,
        c.RECLAIM_LINES: store.reclaim_lines,
        c.PICK_ASSIGNEE: assignment.pick_assignee,
        c.CASES_TO_HAND_BACK: assignment.cases_to_hand_back,
        c.LOAD_CALENDARS: calendars.load_calendars,
        c.EXECUTE_REFUND: providers.execute_refund,
        c.SEND_NOTIFICATION: providers.send_notification,
        c.CREATE_RETURN_LABEL: providers.create_return_label,
        c.CREATE_SHIPMENT: providers.create_shipment,
        c.OPEN_CARRIER_CLAIM: providers.open_carrier_claim,
        c.ISSUE_CREDIT: providers.issue_credit,
    }


def activities_for(
    sessions: sessionmaker[Session],
    provider: ProviderClient,
    wake_relay: Callable[[], None] | None = None,
    away_after: timedelta = AWAY_AFTER,
    quality_policy: QualityPolicy | None = None,
    wake_webhooks: Callable[[], None] | None = None,
) -> list[Callable[..., Any]]:
    return list(
        activities_by_name(sessions, provider, wake_relay, away_after, quality_policy, wake_webhooks).values()
    )


def build_worker(
    client: Client,
    settings: Settings,
    sessions: sessionmaker[Session],
    provider: ProviderClient,
    task_queue: str | None = None,
    wake_relay: Callable[[], None] | None = None,
    wake_webhooks: Callable[[], None] | None = None,
) -> Worker:
    """The case worker; pass the outbox relay's `wake` as `wake_relay` and the webhook relay's as
    `wake_webhooks` (run the relays beside it)."""
    payload_passes.install()
    return Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        workflows=WORKFLOWS,
        workflow_runner=case_workflow_runner(),
        activities=activities_for(
            sessions,
            provider,
            wake_relay,
            timedelta(seconds=settings.presence_away_after_seconds),
            QualityPolicy(share=settings.qc_sample_share, seed=settings.qc_seed),
            wake_webhooks,
        ),
        # Store and provider calls are blocking (SQLAlchemy, httpx): run them in threads.
        activity_executor=ThreadPoolExecutor(max_workers=settings.worker_activity_threads),
        # More slots than threads would only queue activities inside the worker.
        max_concurrent_activities=min(
            settings.worker_max_concurrent_activities, settings.worker_activity_threads
        ),
        max_concurrent_workflow_tasks=settings.worker_max_concurrent_workflow_tasks,
        max_cached_workflows=settings.worker_max_cached_workflows,
    )
