"""Run a command at a lower CPU priority: `python -m devstack.background NICE COMMAND ARGS...`.

`make run` and the bench stacks start each process in a session of its own (so a stop reaches its
whole process group). Where the kernel groups sessions for scheduling (autogroup, on by default on
Linux desktops and VMs), a process's nice value only ranks it against processes of its own session:
each session gets an equal share of the CPU whatever its processes' nice. So the command's session
is made nicer too (`/proc/self/autogroup`), then the process itself (`os.nice`), and the command
replaces this process (same pid, so the supervisor's signals reach it).
"""

from __future__ import annotations

import os
import sys
from contextlib import suppress
from pathlib import Path

AUTOGROUP = Path("/proc/self/autogroup")


def lower_priority(nice: int, autogroup: Path = AUTOGROUP) -> None:
    """This process's session (where the kernel groups by session) and the process: `nice` lower.

    The session only when this process leads it (started with a session of its own): a command run
    from a terminal must not make the terminal's whole session nicer."""
    if os.getsid(0) == os.getpid():
        # No autogroup here (other kernels, containers): the process's own nice is what counts.
        with suppress(OSError):
            autogroup.write_text(f"{nice}\n")
    os.nice(nice)


def main(argv: list[str]) -> None:
    if len(argv) < 2 or not argv[0].lstrip("-").isdigit():
        sys.exit("usage: python -m devstack.background NICE COMMAND [ARGS...]")
    lower_priority(int(argv[0]))
    os.execvp(argv[1], argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
