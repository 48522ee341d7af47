"""An isolated stack for benchmarks: Temporal dev server, simulator, worker(s) and API on free ports.

Everything lives in a temp dir (Temporal's SQLite file, the case store when SQLite, the simulator's
ledger, the codec key, the dev API keys, the logs) and listens on free ports, never the defaults of
`make run` (7233, 8000, 8100, 8233), so benchmarks run beside a `make run` or another benchmark. With
`database_url` (PostgreSQL) the store is a scratch database created for the run and dropped after.

Child processes read their settings from the environment (AFTERSALES_*), as in production.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from core.settings import Settings, get_settings
from devstack.__main__ import (
    WORKER_WITHOUT_OUTBOX_RELAY,
    http_ok,
    in_background,
    outbox_relay_env,
    port_open,
    temporal_cli,
    wait_until,
)
from devstack.dev_keys import ensure_dev_keys
from store.migrate import upgrade
from workflows.search_attributes import cli_flags

DEFAULT_PORTS = {7233, 8000, 8100, 8233}
BASELINE_QUEUE = "bench-baseline"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A port free right now, for a process that must bind it itself (not one of `make run`'s).

    Picked below the kernel's ephemeral range: a port the kernel hands out (bind to 0) can be given
    to some outgoing connection (a gRPC or database client) before the process binds it, which failed
    a dev server's start with "address already in use". Below the range only listeners compete, and a
    random pick makes two picks meet rarely; each is checked free."""
    low = _ephemeral_low()
    for _ in range(500):
        port = random.randrange(10_000, low)
        if port in DEFAULT_PORTS:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port in 10000-{low}")


def _ephemeral_low() -> int:
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return max(low, 10_001)


def create_scratch_database(base_url: str) -> str:
    """A new empty database next to the one `base_url` names; returns its URL."""
    url = make_url(base_url)
    if url.get_backend_name() == "sqlite":
        return base_url
    name = f"aftersales_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def drop_scratch_database(scratch_url: str) -> None:
    url = make_url(scratch_url)
    if url.get_backend_name() == "sqlite" or not (url.database or "").startswith("aftersales_bench_"):
        return
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
    admin.dispose()


# ------------------------------------------------------------------ /proc readings


def _children(pid: int) -> list[int]:
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    kids: list[int] = []
    for tid in tasks:
        with contextlib.suppress(OSError):
            kids += [int(p) for p in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()]
    return kids


def process_tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo += _children(current)
    return out


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (its threads included), 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the ")" the fields start at field 3 (state): utime is field 14, stime field 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def tree_cpu_seconds(pid: int) -> float:
    return sum(cpu_seconds(p) for p in process_tree(pid))


def rss_mb(pid: int) -> float:
    """Resident set size of a process tree in MB (VmRSS)."""
    total = 0.0
    for p in process_tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
    return total


def postgres_pids() -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if Path(f"/proc/{entry}/comm").read_text().strip().startswith("postgres"):
                    pids.append(int(entry))
    return pids


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    total = sum(values[:8])
    return (total - idle) / CLK_TCK, total / CLK_TCK


def self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class CpuSnapshot:
    at: float
    per_process: dict[str, float]
    machine_busy: float
    machine_total: float


@dataclass
class CpuUsage:
    """CPU seconds each process used between two snapshots, and the machine's share."""

    wall: float
    seconds: dict[str, float]
    machine_busy: float
    cores: int = field(default_factory=lambda: os.cpu_count() or 1)

    def rows(self) -> list[list[str]]:
        rows = []
        for name, secs in self.seconds.items():
            rows.append([name, f"{secs:.1f}", f"{100 * secs / self.wall:.0f}%" if self.wall else "-"])
        ours = sum(self.seconds.values())
        other = max(self.machine_busy - ours, 0.0)
        rows.append(["other processes on the machine", f"{other:.1f}", f"{100 * other / self.wall:.0f}%"])
        rows.append(
            [
                f"machine busy ({self.cores} cores = {100 * self.cores}%)",
                f"{self.machine_busy:.1f}",
                f"{100 * self.machine_busy / self.wall:.0f}%",
            ]
        )
        return rows

    def top(self) -> str:
        name, secs = max(self.seconds.items(), key=lambda kv: kv[1])
        return f"{name} ({100 * secs / self.wall:.0f}% of one core)" if self.wall else name


# ------------------------------------------------------------------ the stack


def add_setting_option(parser: argparse.ArgumentParser) -> None:
    """`--setting AFTERSALES_NAME=VALUE` (repeatable): one setting of the stack's processes, e.g. for
    an A/B of one setting in the same session (`stack_settings` turns them into the environment)."""
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="AFTERSALES_NAME=VALUE",
        help="a setting for the stack's processes (repeatable), e.g. for an A/B of one setting",
    )


def stack_settings(pairs: list[str]) -> dict[str, str]:
    """`AFTERSALES_NAME=VALUE` pairs as environment variables; anything else is refused."""
    found: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.startswith("AFTERSALES_") or name == "AFTERSALES_":
            raise SystemExit(f"--setting {pair!r}: expected AFTERSALES_NAME=VALUE")
        found[name] = value
    return found


class BenchStack:
    """Temporal dev server + simulator + worker + API (+ the baseline worker) for one benchmark run."""

    def __init__(
        self,
        *,
        database_url: str | None = None,
        time_scale: int = 1,
        api: bool = True,
        baseline_worker: bool = False,
        keep: bool = False,
        bytecode_cache: bool = False,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.requested_database_url = database_url
        self.time_scale = time_scale
        self.with_api = api
        self.with_baseline_worker = baseline_worker
        self.keep = keep
        self.bytecode_cache = bytecode_cache
        self.extra_env = extra_env or {}
        self.dir = Path(tempfile.mkdtemp(prefix="aftersales-bench-"))
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.args: dict[str, list[str]] = {}  # spawn args per name, so `restart` can re-spawn a process
        self.envs: dict[str, dict[str, str]] = {}  # a process's own additions to `env`, likewise
        self.keys: dict[str, str] = {}
        self.env: dict[str, str] = {}
        self.database_url = ""
        self.settings: Settings | None = None

    # -- settings

    def _environment(self) -> dict[str, str]:
        temporal_port, ui_port, api_port, sim_port = (free_port() for _ in range(4))
        env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERSALES_") and k != "DATABASE_URL"}
        env |= {
            "AFTERSALES_LOCAL_DIR": str(self.dir),
            "AFTERSALES_TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}",
            "AFTERSALES_TEMPORAL_UI_PORT": str(ui_port),
            "AFTERSALES_API_PORT": str(api_port),
            "AFTERSALES_SIMULATOR_PORT": str(sim_port),
            "AFTERSALES_POLICY_TIME_SCALE": str(self.time_scale),
            "AFTERSALES_LOG_LEVEL": "WARNING",
            "AFTERSALES_CODEC_CORS_ORIGINS": f"http://127.0.0.1:{ui_port}",
        }
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        if self.bytecode_cache:
            # Without cached bytecode the workflow sandbox compiles the workflow module from source
            # for every new workflow instance (PYTHONDONTWRITEBYTECODE is set here and in the image).
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(self.dir / "pycache")
        env |= WORKER_WITHOUT_OUTBOX_RELAY  # `make run`'s layout, unless a setting says otherwise
        env |= self.extra_env
        return env

    @property
    def outbox_relay_process(self) -> bool:
        """Whether the outbox relay runs in its own process (the default, as in `make run`), or in the
        worker (`--setting AFTERSALES_OUTBOX_RELAY_IN_WORKER=true`)."""
        return not self.s.outbox_relay_in_worker

    @property
    def s(self) -> Settings:
        assert self.settings is not None, "stack not started"
        return self.settings

    @property
    def store_kind(self) -> str:
        if not self.requested_database_url:
            return "SQLite (in the temp dir)"
        url = make_url(self.database_url)
        return f"PostgreSQL (scratch database {url.database} on {url.host}:{url.port})"

    @property
    def api_url(self) -> str:
        return f"http://{self.s.api_host}:{self.s.api_port}"

    # -- processes

    def spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start a process of the stack; `env` adds to the stack's environment (kept for `restart`)."""
        logs = self.dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        if env is not None:
            self.envs[name] = env
        with (logs / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**self.env, **self.envs.get(name, {})},
                start_new_session=True,
            )
        self.procs[name] = proc
        self.args[name] = args
        return proc

    def pid(self, name: str) -> int:
        return self.procs[name].pid

    def start(self) -> BenchStack:
        if self.requested_database_url:
            self.database_url = create_scratch_database(self.requested_database_url)
        self.env = self._environment()
        # This process (the bench driver) uses the same settings as its children.
        for key in [k for k in os.environ if k.startswith("AFTERSALES_") or k == "DATABASE_URL"]:
            del os.environ[key]
        os.environ.update({k: v for k, v in self.env.items() if k.startswith("AFTERSALES_")})
        if self.database_url:
            os.environ["DATABASE_URL"] = self.database_url
        get_settings.cache_clear()
        self.settings = s = get_settings()
        upgrade(s.resolved_database_url)
        self.database_url = self.database_url or s.resolved_database_url
        self.keys = ensure_dev_keys(s.local_dir / "dev-api-keys.json", s)
        host, _, port = s.temporal_address.rpartition(":")
        self.spawn(
            "temporal",
            in_background([
                temporal_cli(), "server", "start-dev", "--headless",
                "--ip", host, "--port", port, "--namespace", s.temporal_namespace,
                "--db-filename", str(s.local_dir / "temporal.db"),
                "--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal",
                "--dynamic-config-value", "frontend.namespaceCount=10000",
                "--log-level", "error",
                *cli_flags(),
            ], s),
        )  # fmt: skip
        procs = list(self.procs.items())
        wait_until("Temporal", lambda: port_open(host, int(port)), procs)
        py = sys.executable
        self.spawn("simulator", [py, "-m", "simulator"])
        self.spawn("worker", in_background([py, "-m", "workers"], s))
        if self.outbox_relay_process:  # as `make run` runs it: beside the worker, not in it
            self.spawn("outbox-relay", in_background([py, "-m", "workers.outbox"], s), outbox_relay_env(s))
        if self.with_baseline_worker:
            self.spawn("baseline worker", in_background([py, "-m", "bench.baseline_worker"], s))
        if self.with_api:
            self.spawn("api", [py, "-m", "api"])
        wait_until(
            "the simulator",
            lambda: http_ok(s.resolved_provider_base_url + "/healthz"),
            list(self.procs.items()),
        )
        if self.with_api:
            wait_until("the API", lambda: http_ok(self.api_url + "/readyz"), list(self.procs.items()), 90)
        return self

    def stop_process(self, name: str, timeout: float = 30) -> float:
        """SIGTERM one process and wait for it; returns the seconds it took to exit."""
        proc = self.procs.pop(name)
        began = time.monotonic()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return time.monotonic() - began

    def kill_process(self, name: str) -> None:
        """SIGKILL one process (a crash: no graceful shutdown) and reap it; `restart` brings it back."""
        proc = self.procs.pop(name)
        if proc.poll() is None:
            proc.kill()
        proc.wait()

    def restart(self, name: str) -> subprocess.Popen[bytes]:
        """Re-spawn a process with the args it was first spawned with (stopping it first if it runs)."""
        if name in self.procs:
            self.stop_process(name)
        return self.spawn(name, self.args[name])

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                log = self.dir / "logs" / f"{name}.log"
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                raise RuntimeError(f"{name} exited with code {proc.returncode}:\n{tail}")

    def stop(self) -> None:
        for name in reversed(list(self.procs)):
            with contextlib.suppress(Exception):
                self.stop_process(name, timeout=15)
        if self.database_url and self.requested_database_url:
            with contextlib.suppress(Exception):
                from store.db import get_engine

                get_engine(self.database_url).dispose()
            drop_scratch_database(self.database_url)
        if self.keep:
            print(f"(kept {self.dir})", flush=True)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> BenchStack:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is not None and not isinstance(exc, KeyboardInterrupt):
            print(f"(logs of the failed run: {self.dir / 'logs'})", flush=True)
            self.keep = True
        self.stop()

    # -- measurements

    def cpu_snapshot(self, include_postgres: bool | None = None) -> CpuSnapshot:
        per = {name: tree_cpu_seconds(proc.pid) for name, proc in self.procs.items()}
        per["bench driver (this process)"] = self_cpu_seconds()
        if include_postgres if include_postgres is not None else bool(self.requested_database_url):
            per["postgresql (all backends)"] = sum(cpu_seconds(p) for p in postgres_pids())
        busy, total = machine_cpu_seconds()
        return CpuSnapshot(time.monotonic(), per, busy, total)

    @staticmethod
    def cpu_between(before: CpuSnapshot, after: CpuSnapshot) -> CpuUsage:
        names = [n for n in after.per_process if n in before.per_process]
        return CpuUsage(
            wall=after.at - before.at,
            seconds={n: max(after.per_process[n] - before.per_process[n], 0.0) for n in names},
            machine_busy=after.machine_busy - before.machine_busy,
        )


def describe_machine() -> list[list[str]]:
    """nproc, memory, Python and Temporal CLI versions, for the report."""
    mem = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    try:
        cli = subprocess.run([temporal_cli(), "--version"], capture_output=True, text=True, timeout=20)
        temporal = cli.stdout.strip()
    except (OSError, subprocess.SubprocessError, SystemExit):
        temporal = "?"
    return [
        ["cores (nproc)", str(os.cpu_count())],
        ["memory", mem],
        ["python", sys.version.split()[0]],
        ["temporal CLI", temporal],
    ]
