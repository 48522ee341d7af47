"""`python -m bench.baseline_worker`: a worker for the baseline workflows, tuned like the case worker.

Same data converter (pydantic + the encryption codec), same activity threads and slots as
`workers/build.py`, on its own task queue (`bench-baseline`), until SIGINT/SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
from concurrent.futures import ThreadPoolExecutor

from temporalio.worker import Worker

from bench.baseline_workflows import ShapeWorkflow, TrivialWorkflow, noop
from core.logging import configure_logging
from core.settings import get_settings
from core.temporal import connect

TASK_QUEUE = "bench-baseline"


async def main() -> None:
    settings = get_settings()
    configure_logging(settings)
    client = await connect(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    worker = Worker(
        client,
        task_queue=TASK_QUEUE,
        workflows=[TrivialWorkflow, ShapeWorkflow],
        activities=[noop],
        activity_executor=ThreadPoolExecutor(max_workers=settings.worker_activity_threads),
        max_concurrent_activities=min(
            settings.worker_max_concurrent_activities, settings.worker_activity_threads
        ),
        max_concurrent_workflow_tasks=settings.worker_max_concurrent_workflow_tasks,
    )
    async with worker:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
