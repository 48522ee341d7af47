"""SQLite's one write lock: the API's writers go first, the worker's give way, and never for long."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import text

from store.db import WriterLane, make_engine


def give_way_in_thread(lane: WriterLane) -> tuple[threading.Thread, threading.Event]:
    returned = threading.Event()

    def run() -> None:
        lane.give_way()
        returned.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, returned


def test_a_workers_write_waits_while_a_requests_write_waits_or_writes(tmp_path: Path) -> None:
    path = tmp_path / "cases.db.writers"
    request, worker = WriterLane(path), WriterLane(path)  # two processes' lanes: separate files opened
    worker.GIVE_WAY_SECONDS = 60  # longer than this test: only the request's leaving lets it go
    request.enter()
    thread, returned = give_way_in_thread(worker)
    # Whatever the scheduling, a worker that gives way cannot return while the request holds the lane.
    assert not returned.wait(0.2)
    request.leave()
    assert returned.wait(30), "the worker's write goes on once the request's is done"
    thread.join(30)


def test_a_workers_write_gives_way_for_a_bounded_time_only(tmp_path: Path) -> None:
    path = tmp_path / "cases.db.writers"
    request, worker = WriterLane(path), WriterLane(path)
    worker.GIVE_WAY_SECONDS = 0.05
    request.enter()  # and never leaves
    began = time.monotonic()
    thread, returned = give_way_in_thread(worker)
    assert returned.wait(30), "a worker is never starved by requests' writes"
    assert time.monotonic() - began >= 0.05
    thread.join(30)
    request.leave()


def test_engines_of_both_kinds_write_to_one_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    api, worker = make_engine(url), make_engine(url, writes_give_way=True)
    try:
        with api.begin() as conn:
            conn.execute(text("CREATE TABLE t (n INTEGER)"))
        for engine, n in ((worker, 1), (api, 2), (worker, 3)):
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})
        with api.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 3
        assert (tmp_path / "cases.db.writers").exists()
    finally:
        api.dispose()
        worker.dispose()
