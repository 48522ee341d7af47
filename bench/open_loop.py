"""An open-loop load generator: requests sent on a fixed schedule over plain HTTP/1.1 keep-alive.

Request i is sent at start + i / rate whatever the earlier answers took, and its latency is counted
from that scheduled time, so a server that falls behind shows its queueing (no coordinated omission).
Each request in flight has a connection of its own (an idle one is reused, else one is opened), as
independent callers would. The client is a few lines over asyncio streams, not httpx: at hundreds of
requests per second with many connections httpx's pool took most of a core and fell seconds behind
its own schedule, which then showed up as server latency.
"""

from __future__ import annotations

import asyncio
import gc
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]
MAX_HEAD = 64 * 1024


class HttpError(Exception):
    """An answer that is not HTTP/1.1 with a Content-Length, or a connection that broke mid-answer."""


@dataclass
class Measured:
    """Latencies (seconds, from the scheduled time) and send lags of the counted requests."""

    sent: int
    latencies: list[float]
    send_lag: list[float]
    errors: dict[str, int] = field(default_factory=dict)
    window: float = 0.0  # from the first counted scheduled time to the last counted answer


class Connections:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.idle: list[Streams] = []

    async def request(self, raw: bytes) -> int:
        """Send one request; the status of its answer (the body is read and dropped)."""
        reused = bool(self.idle)
        streams = self.idle.pop() if reused else await asyncio.open_connection(self.host, self.port)
        try:
            status, keep = await self._exchange(streams, raw)
        except (ConnectionError, asyncio.IncompleteReadError) as err:
            streams[1].close()
            if not reused or (isinstance(err, asyncio.IncompleteReadError) and err.partial):
                raise HttpError(f"{type(err).__name__}: {err}") from err
            # The server closed an idle keep-alive connection before we used it: a fresh one.
            streams = await asyncio.open_connection(self.host, self.port)
            status, keep = await self._exchange(streams, raw)
        except BaseException:
            streams[1].close()
            raise
        if keep:
            self.idle.append(streams)
        else:
            streams[1].close()
        return status

    @staticmethod
    async def _exchange(streams: Streams, raw: bytes) -> tuple[int, bool]:
        reader, writer = streams
        writer.write(raw)
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        if not lines[0].startswith("HTTP/1.1 "):
            raise HttpError(f"not an HTTP/1.1 answer: {lines[0]!r}")
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)
        }
        if "content-length" not in headers:
            raise HttpError("an answer without Content-Length")
        await reader.readexactly(int(headers["content-length"]))
        return int(lines[0][9:12]), headers.get("connection", "").lower() != "close"

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


def get(path: str, host: str, headers: dict[str, str]) -> bytes:
    return _request("GET", path, host, headers, b"")


def post_json(path: str, host: str, headers: dict[str, str], body: bytes) -> bytes:
    return _request("POST", path, host, {**headers, "Content-Type": "application/json"}, body)


def _request(method: str, path: str, host: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", *(f"{k}: {v}" for k, v in headers.items())]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def run(
    host: str,
    port: int,
    make_request: Callable[[int], bytes],
    expected: int,
    rate: float,
    seconds: float,
    warmup: float,
    answer_within: float = 10.0,
) -> Measured:
    """Send `make_request(i)` at `rate` per second for `warmup + seconds`; count those after `warmup`."""
    loop = asyncio.get_running_loop()
    connections = Connections(host, port)
    first_counted = math.ceil(warmup * rate)
    total = first_counted + round(seconds * rate)
    latencies: list[float] = []
    lags: list[float] = []
    errors: Counter[str] = Counter()
    last_done = 0.0

    async def one(i: int, scheduled: float) -> None:
        nonlocal last_done
        lag = loop.time() - scheduled
        try:
            status = await asyncio.wait_for(connections.request(make_request(i)), answer_within)
            error = None if status == expected else str(status)
        except TimeoutError:
            error = "timeout"
        except (OSError, HttpError) as err:
            error = type(err).__name__
        done = loop.time()
        if i >= first_counted:
            latencies.append(done - scheduled)
            lags.append(lag)
            last_done = max(last_done, done)
            if error:
                errors[error] += 1

    gc.freeze()  # what exists now is never collected: fewer collector pauses in the schedule
    start = loop.time() + 0.2
    tasks = []
    for i in range(total):
        scheduled = start + i / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, scheduled)))
    await asyncio.gather(*tasks)
    connections.close()
    counted_from = start + first_counted / rate
    return Measured(
        sent=total - first_counted,
        latencies=latencies,
        send_lag=lags,
        errors=dict(errors),
        window=max(last_done - counted_from, 1e-9),
    )
