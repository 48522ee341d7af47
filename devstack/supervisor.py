"""Keeps the children of `make run` running: a child that exits is restarted after a backoff, and the
others go on serving. A child that keeps dying right after it starts is given up on, loudly, rather
than restarted in a fast loop forever.

The supervisor does nothing on its own: `check()` looks once (the caller's loop calls it), and the
clock is injected, so tests drive it with cheap child processes and a fake clock, without sleeping.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

Say = Callable[[str, str], None]  # (child name, message): to the terminal and the child's log


@dataclass(frozen=True)
class Backoff:
    """Seconds to wait before restarting a child that crashed `crashes` times in a row (from 1)."""

    first: float = 1.0
    factor: float = 2.0
    cap: float = 30.0

    def delay(self, crashes: int) -> float:
        return float(min(self.cap, self.first * self.factor ** max(crashes - 1, 0)))


@dataclass
class Child:
    name: str
    start: Callable[[], subprocess.Popen[bytes]]
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    quick_crashes: int = 0  # crashes in a row, each within min_uptime of its start
    restart_at: float | None = None
    given_up: bool = False
    restarts: int = 0


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


class Supervisor:
    def __init__(
        self,
        say: Say,
        *,
        clock: Callable[[], float] = time.monotonic,
        backoff: Backoff | None = None,
        min_uptime: float = 10.0,
        max_quick_crashes: int = 5,
    ) -> None:
        self.say = say
        self.clock = clock
        self.backoff = backoff or Backoff()
        self.min_uptime = min_uptime
        self.max_quick_crashes = max_quick_crashes
        self.children: dict[str, Child] = {}

    def add(self, name: str, start: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
        """Start a child now and keep it running from the next `check()` on."""
        child = Child(name, start)
        self.children[name] = child
        self._start(child)
        assert child.proc is not None
        return child.proc

    def procs(self) -> list[tuple[str, subprocess.Popen[bytes]]]:
        """The children running now (or exited and not yet noticed)."""
        return [(c.name, c.proc) for c in self.children.values() if c.proc is not None]

    def check(self) -> None:
        """Notice the children that exited, restart those whose backoff has passed, give up on those
        that keep crashing right after they start."""
        now = self.clock()
        for child in self.children.values():
            if child.proc is not None and child.proc.poll() is not None:
                self._exited(child, child.proc.returncode, now)
            if child.proc is None and child.restart_at is not None and now >= child.restart_at:
                child.restarts += 1
                self._start(child)
                assert child.proc is not None
                self.say(child.name, f"restarted {child.name} (pid {child.proc.pid})")

    def _exited(self, child: Child, code: int, now: float) -> None:
        uptime = now - child.started_at
        child.proc = None
        child.quick_crashes = child.quick_crashes + 1 if uptime < self.min_uptime else 1
        if child.quick_crashes >= self.max_quick_crashes:
            child.given_up = True
            self.say(
                child.name,
                f"{child.name} {describe_exit(code)}; it died {child.quick_crashes} times in a row within "
                f"{self.min_uptime:g} s of starting, so it is NOT restarted again. The other processes "
                f"keep running; see its log, fix the cause and start `make run` again.",
            )
            return
        delay = self.backoff.delay(child.quick_crashes)
        child.restart_at = now + delay
        self.say(
            child.name,
            f"{child.name} {describe_exit(code)} after {uptime:.1f} s; restarting it in {delay:g} s "
            "(the other processes keep running)",
        )

    def _start(self, child: Child) -> None:
        child.proc = child.start()
        child.started_at = self.clock()
        child.restart_at = None

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM every child (last started first), then wait; SIGKILL what does not stop in time.
        Pending restarts are dropped."""
        running = [c for c in reversed(self.children.values()) if c.proc is not None]
        for child in self.children.values():
            child.restart_at = None
        for child in running:
            assert child.proc is not None
            if child.proc.poll() is None:
                child.proc.send_signal(signal.SIGTERM)
        for child in running:
            assert child.proc is not None
            try:
                child.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.say(child.name, f"{child.name} did not stop in time; killing it")
                child.proc.kill()
                child.proc.wait()
            self.say(child.name, f"stopped {child.name}")
            child.proc = None
