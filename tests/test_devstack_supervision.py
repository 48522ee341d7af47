"""`make run` keeps serving when one of its processes dies (audit item 16).

The supervision is driven here with cheap child processes (`python -c ...`) and a fake clock: each
step waits for an event (a child exited), never for time to pass. The last test runs the real
`python -m devstack` on free ports, SIGKILLs its worker and watches the restart.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from devstack.supervisor import Backoff, Supervisor
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
EXITS_AT_ONCE = [sys.executable, "-c", "raise SystemExit(3)"]
RUNS_UNTIL_STOPPED = [sys.executable, "-c", "import signal; signal.pause()"]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Said:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def __call__(self, name: str, message: str) -> None:
        self.lines.append((name, message))

    def last(self, name: str) -> str:
        return [message for who, message in self.lines if who == name][-1]


def spawner(args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture
def stack() -> Iterator[tuple[Supervisor, FakeClock, Said]]:
    clock, said = FakeClock(), Said()
    supervisor = Supervisor(
        said, clock=clock, backoff=Backoff(first=1, factor=2, cap=30), min_uptime=10, max_quick_crashes=4
    )
    yield supervisor, clock, said
    supervisor.stop(timeout=10)


def exited(supervisor: Supervisor, name: str) -> int:
    """Wait (an event: the process ends) until the child exits; its exit code."""
    proc = supervisor.children[name].proc
    assert proc is not None
    return proc.wait(timeout=30)


def test_a_crashed_child_is_restarted_after_its_backoff_while_the_others_keep_running(
    stack: tuple[Supervisor, FakeClock, Said],
) -> None:
    supervisor, clock, said = stack
    api = supervisor.add("api", lambda: spawner(RUNS_UNTIL_STOPPED))
    first = supervisor.add("worker", lambda: spawner(RUNS_UNTIL_STOPPED))
    first.send_signal(signal.SIGKILL)
    exited(supervisor, "worker")
    clock.now += 30  # it had run a while: an ordinary crash

    supervisor.check()
    assert said.last("worker") == (
        "worker was killed by SIGKILL after 30.0 s; restarting it in 1 s (the other processes keep running)"
    )
    assert supervisor.children["worker"].proc is None, "not before its backoff"
    clock.now += 1
    supervisor.check()
    again = supervisor.children["worker"].proc
    assert again is not None and again.pid != first.pid and again.poll() is None
    assert said.last("worker") == f"restarted worker (pid {again.pid})"
    assert api.poll() is None and supervisor.children["api"].restarts == 0


def test_a_child_that_keeps_dying_right_after_start_is_given_up_with_a_growing_backoff(
    stack: tuple[Supervisor, FakeClock, Said],
) -> None:
    supervisor, clock, said = stack
    api = supervisor.add("api", lambda: spawner(RUNS_UNTIL_STOPPED))
    supervisor.add("worker", lambda: spawner(EXITS_AT_ONCE))
    delays = []
    for _ in range(3):
        assert exited(supervisor, "worker") == 3
        supervisor.check()
        delay = supervisor.children["worker"].restart_at
        assert delay is not None
        delays.append(delay - clock.now)
        clock.now = delay
        supervisor.check()  # restarted
    assert delays == [1, 2, 4]
    assert exited(supervisor, "worker") == 3
    supervisor.check()
    worker = supervisor.children["worker"]
    assert worker.given_up and worker.proc is None and worker.restart_at is None
    assert "died 4 times in a row within 10 s of starting, so it is NOT restarted again" in said.last(
        "worker"
    )
    clock.now += 3600
    supervisor.check()
    assert worker.proc is None and worker.restarts == 3, "given up means given up"
    assert api.poll() is None


def test_a_child_that_ran_long_enough_starts_over_at_the_shortest_backoff(
    stack: tuple[Supervisor, FakeClock, Said],
) -> None:
    supervisor, clock, _ = stack
    supervisor.add("worker", lambda: spawner(EXITS_AT_ONCE))
    for _ in range(2):  # two quick crashes: the next backoff would be 4 s
        exited(supervisor, "worker")
        supervisor.check()
        clock.now = supervisor.children["worker"].restart_at or clock.now
        supervisor.check()
    exited(supervisor, "worker")
    clock.now += 60  # this time it had run for a minute before it died
    supervisor.check()
    worker = supervisor.children["worker"]
    assert worker.quick_crashes == 1 and worker.restart_at == clock.now + 1


def test_stopping_ends_every_child_and_drops_pending_restarts(
    stack: tuple[Supervisor, FakeClock, Said],
) -> None:
    supervisor, clock, said = stack
    api = supervisor.add("api", lambda: spawner(RUNS_UNTIL_STOPPED))
    supervisor.add("worker", lambda: spawner(EXITS_AT_ONCE))
    exited(supervisor, "worker")
    supervisor.check()
    assert supervisor.children["worker"].restart_at is not None
    supervisor.stop(timeout=10)
    assert api.returncode == -signal.SIGTERM
    clock.now += 60
    supervisor.check()
    assert supervisor.procs() == [] and ("api", "stopped api") in said.lines


# ------------------------------------------------------------------ the real `make run`


class Lines:
    """The devstack's stdout, line by line, awaited with a safety bound."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.seen: list[str] = []

    async def until(self, pattern: str, seconds: float = 120) -> re.Match[str]:
        assert self.proc.stdout is not None
        deadline = asyncio.get_running_loop().time() + seconds
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(f"no line matching {pattern!r}; output so far:\n" + "".join(self.seen))
            raw = await asyncio.wait_for(self.proc.stdout.readline(), remaining)
            if not raw:
                raise AssertionError(f"devstack ended before {pattern!r}:\n" + "".join(self.seen))
            line = raw.decode(errors="replace")
            self.seen.append(line)
            found = re.search(pattern, line)
            if found:
                return found


@pytest.fixture
async def devstack(tmp_path: Path) -> AsyncIterator[Lines]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERSALES_") and k != "DATABASE_URL"}
    env |= {
        "AFTERSALES_LOCAL_DIR": str(tmp_path / "local"),
        "AFTERSALES_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "AFTERSALES_TEMPORAL_UI_PORT": str(free_port()),
        "AFTERSALES_API_PORT": str(free_port()),
        "AFTERSALES_SIMULATOR_PORT": str(free_port()),
        "AFTERSALES_LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "devstack", env=env, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    lines = Lines(proc)
    try:
        yield lines
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), 60)
            except TimeoutError:
                proc.kill()
                await proc.wait()


@pytest.mark.slow  # the real `make run`
async def test_make_run_restarts_a_killed_worker_and_the_api_keeps_answering(
    devstack: Lines, tmp_path: Path
) -> None:
    pids = {}
    for name in ("temporal", "simulator", "worker", "api"):
        pids[name] = int((await devstack.until(rf"started {name} \(pid (\d+)"))[1])
    api_url = (await devstack.until(r"API\s+(http://\S+)"))[1]
    await devstack.until("Press Ctrl-C to stop")

    os.kill(pids["worker"], signal.SIGKILL)
    await devstack.until(r"worker was killed by SIGKILL after .*; restarting it in 1 s")
    new_worker = int((await devstack.until(r"restarted worker \(pid (\d+)\)"))[1])
    assert new_worker != pids["worker"]
    os.kill(new_worker, 0)  # alive
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/readyz")).status_code == 200
    for name in ("temporal", "simulator", "api"):
        os.kill(pids[name], 0)  # never stopped
    log = (tmp_path / "local" / "logs" / "worker.log").read_text()
    assert "worker was killed by SIGKILL" in log and f"restarted worker (pid {new_worker})" in log

    devstack.proc.send_signal(signal.SIGINT)  # Ctrl-C
    await devstack.until("all stopped.")
    assert await asyncio.wait_for(devstack.proc.wait(), 60) == 0
    for pid in (new_worker, pids["api"], pids["temporal"], pids["simulator"]):
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
