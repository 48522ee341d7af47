"""Run an ASGI app with uvicorn in a background thread on a free port, for real-HTTP tests.

The socket is bound here and handed to uvicorn, so there is no window in which another process can
take the port between choosing and listening.
"""

from __future__ import annotations

import socket
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn
from starlette.types import ASGIApp

from bench.stack import free_port

__all__ = ["free_port", "run_uvicorn"]


@contextmanager
def run_uvicorn(
    app: ASGIApp,
    health_path: str = "/healthz",
    startup_timeout: float = 20.0,
    shutdown_timeout: float = 5.0,
    log_level: str = "warning",
) -> Iterator[str]:
    """Serve `app` on 127.0.0.1 until the block ends; yields its base URL once `health_path` is 200.

    Requests still running at the end get `shutdown_timeout` seconds, so a handler that sleeps (the
    simulator's late answers) cannot hang the test session.
    """
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only then, and without
    # it every keep-alive answer waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = uvicorn.Config(
        app,
        log_level=log_level,
        lifespan="on",
        timeout_graceful_shutdown=int(max(1, shutdown_timeout)),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=url, daemon=True)
    thread.start()
    try:
        _wait_until_healthy(url + health_path, server, thread, startup_timeout)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=shutdown_timeout + 5)
        sock.close()
        if thread.is_alive():  # warn rather than raise: never hide the test's own failure
            warnings.warn(f"server on {url} did not stop", RuntimeWarning, stacklevel=2)


def _wait_until_healthy(
    health_url: str, server: uvicorn.Server, thread: threading.Thread, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            if not thread.is_alive():
                raise RuntimeError(f"server for {health_url} exited during startup")
            if server.started:
                try:
                    if client.get(health_url).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
            time.sleep(0.02)
    raise RuntimeError(f"{health_url} did not answer 200 within {timeout:.0f} s")
