"""The worker and the dev server of `make run` (and the bench stacks) run nicer than the API, also
where the kernel shares the CPU between sessions first (autogroup), each in a session of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.settings import Settings
from devstack.__main__ import in_background

# /proc/self/autogroup is empty for a process in the kernel's default group (a session never started
# since boot, as in some CI containers): "none" then, as where there is no autogroup at all.
REPORT = "import os, pathlib; g = pathlib.Path('/proc/self/autogroup'); " + (
    "print(os.nice(0)); print(((g.read_text().split() if g.exists() else []) or ['none'])[-1])"
)


def own_autogroup_nice() -> str:
    group = Path("/proc/self/autogroup")
    return ((group.read_text().split() if group.exists() else []) or ["none"])[-1]


def autogroup_writable() -> bool:
    """Whether a process leading its own session may set its autogroup's nice here."""
    probe = "import pathlib; pathlib.Path('/proc/self/autogroup').write_text('1')"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, start_new_session=True)
    return done.returncode == 0


def run_in_own_session(args: list[str]) -> list[str]:
    """As the stacks start their processes: a session of its own."""
    done = subprocess.run(args, capture_output=True, text=True, check=True, start_new_session=True)
    return done.stdout.split()


def test_a_background_process_and_its_session_are_made_nicer(tmp_path: Path) -> None:
    settings = Settings(local_dir=tmp_path, background_nice=7)
    args = in_background([sys.executable, "-c", REPORT], settings)
    nice, group = run_in_own_session(args)
    assert int(nice) == min(os.nice(0) + 7, 19)
    if not autogroup_writable():
        pytest.skip("no autogroup to set here: the process's nice is all there is")
    assert group == "7"  # the session's share of the CPU, not only the process's rank within it


def test_nice_zero_runs_the_command_as_it_is(tmp_path: Path) -> None:
    args = [sys.executable, "-c", REPORT]
    assert in_background(args, Settings(local_dir=tmp_path, background_nice=0)) == args
    nice, _ = run_in_own_session(args)
    assert int(nice) == os.nice(0)


def test_a_command_run_without_a_session_of_its_own_leaves_its_callers_session_alone(
    tmp_path: Path,
) -> None:
    args = in_background([sys.executable, "-c", REPORT], Settings(local_dir=tmp_path, background_nice=7))
    done = subprocess.run(args, capture_output=True, text=True, check=True)  # in this session
    nice, group = done.stdout.split()
    assert int(nice) == min(os.nice(0) + 7, 19)
    assert group in ("none", own_autogroup_nice())
