"""The load generator: runs in its own process(es), asyncio (uvloop when installed).

Two modes:

- ``open``: open loop at a fixed offered rate.  Request ``i`` is scheduled at ``i / rate``
  seconds after the start, whether or not earlier requests have answered, and its latency is
  measured from that scheduled time (no coordinated omission: when the server, the client or
  its connection pool falls behind, the queueing shows up in the latency).
- ``closed``: ``concurrency`` workers each send the next request as soon as the previous one
  answered, for ``duration`` seconds or until the paths run out (saturation).

Each path is requested once (a bill is settled once).  Every process is handed its own share
of the paths and starts at the same wall-clock instant ``start_at``.

Connections are a fixed pool of ``max_connections`` keep-alive connections, each request
taking a free one from a queue.  The client on a connection is ``httpx.AsyncClient`` (one
client per connection: a single client shared by many concurrent requests spends
milliseconds of CPU per request in its own pool, encode/httpx#3215) or, with
``client="raw"``, a minimal HTTP/1.1 client on asyncio streams that costs the generator far
less CPU (the generators share the machine's cores with the server).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

import httpx

from bench.cpu import machine_busy, process_group_cpu

#: Status recorded for a request that got no HTTP answer (its error is counted by name).
NO_ANSWER = 0
ClientKind = Literal["httpx", "raw"]


@dataclass(frozen=True)
class Job:
    base_url: str
    token: str
    mode: Literal["open", "closed"]
    paths: list[str]
    body: bytes
    duration: float
    start_at: float
    #: Open loop: requests per second offered by this process.
    rate: float = 0.0
    #: Closed loop: concurrent requests of this process (and as many connections).
    concurrency: int = 0
    #: Open loop: connections of this process.
    max_connections: int = 128
    timeout: float = 10.0
    client: ClientKind = "httpx"
    #: Process group of the server: its CPU time is read at the start and the end of the job.
    server_pgid: int | None = None
    #: When given, request ``i`` sends ``bodies[i]`` (one per path) instead of ``body``.
    bodies: list[bytes] = field(default_factory=list)
    #: Send a fresh ``Idempotency-Key`` with every request.
    idempotency: bool = False
    #: When given, request ``i`` sends ``body`` with each of ``placeholders`` replaced by the
    #: matching value of ``fills[i]`` (one per path): distinct bodies without shipping them whole.
    fills: list[tuple[bytes, ...]] = field(default_factory=list)
    placeholders: tuple[bytes, ...] = ()


@dataclass
class JobResult:
    """Times are seconds since the job's start; ``sent`` is the scheduled time in the open loop."""

    pid: int = field(default_factory=os.getpid)
    sent: list[float] = field(default_factory=list)
    done: list[float] = field(default_factory=list)
    status: list[int] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    #: Seconds after the start at which this process stopped issuing requests.
    issued_until: float = 0.0
    #: Requests still unanswered when the process gave up waiting (counted in ``errors`` too).
    unfinished: int = 0
    #: CPU seconds this generator process spent from the start to the end of the job.
    cpu_s: float = 0.0
    #: Over the same window: its length, the server's CPU seconds, all cores' busy seconds.
    window_s: float = 0.0
    server_cpu_s: float | None = None
    machine_busy_s: float | None = None


class Connection(Protocol):
    async def post(self, path: str, body: bytes, key: str | None = None) -> int: ...

    async def get(self, path: str) -> int: ...

    async def close(self) -> None: ...


class HttpxConnection:
    def __init__(self, job: Job) -> None:
        self.client = httpx.AsyncClient(
            base_url=job.base_url,
            headers={"Authorization": f"Bearer {job.token}", "Content-Type": "application/json"},
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            timeout=httpx.Timeout(job.timeout),
        )

    async def post(self, path: str, body: bytes, key: str | None = None) -> int:
        headers = {"Idempotency-Key": key} if key else None
        return (await self.client.post(path, content=body, headers=headers)).status_code

    async def get(self, path: str) -> int:
        return (await self.client.get(path)).status_code

    async def close(self) -> None:
        await self.client.aclose()


#: Reopen a connection idle longer than this (uvicorn's keep-alive timeout is 5 s).
IDLE_REOPEN_S = 4.0


class RawConnection:
    """One keep-alive HTTP/1.1 connection; responses must carry a Content-Length (uvicorn's do)."""

    def __init__(self, job: Job) -> None:
        url = urlsplit(job.base_url)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        self.headers = (
            f"Host: {url.netloc}\r\nAuthorization: Bearer {job.token}\r\nContent-Type: application/json\r\n"
        ).encode()
        self.timeout = job.timeout
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.last_used = 0.0

    async def _exchange(self, head: bytes, body: bytes) -> int:
        if self.writer is not None and time.monotonic() - self.last_used > IDLE_REOPEN_S:
            # uvicorn closes a keep-alive connection idle for 5 s; reusing it would lose the request.
            await self.close()
        try:
            async with asyncio.timeout(self.timeout):
                if self.writer is None:
                    self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
                assert self.reader is not None
                self.writer.write(head + body)
                response = await self.reader.readuntil(b"\r\n\r\n")
                status = int(response[9:12])
                lower = response.lower()
                at = lower.find(b"\r\ncontent-length:")
                if at < 0:
                    raise ValueError("a response without Content-Length")
                end = lower.index(b"\r\n", at + 2)
                await self.reader.readexactly(int(lower[at + 17 : end]))
                if b"\r\nconnection: close" in lower:
                    await self.close()
                self.last_used = time.monotonic()
                return status
        except BaseException:
            await self.close()
            raise

    async def post(self, path: str, body: bytes, key: str | None = None) -> int:
        extra = b"Idempotency-Key: %s\r\n" % key.encode() if key else b""
        head = b"POST %s HTTP/1.1\r\n%s%sContent-Length: %d\r\n\r\n" % (path.encode(), self.headers, extra, len(body))
        return await self._exchange(head, body)

    async def get(self, path: str) -> int:
        return await self._exchange(b"GET %s HTTP/1.1\r\n%s\r\n" % (path.encode(), self.headers), b"")

    async def close(self) -> None:
        writer, self.reader, self.writer = self.writer, None, None
        if writer is not None:
            writer.close()


def run_job(job: Job) -> JobResult:
    """Entry point of a generator process."""
    runner: Callable[[Coroutine[Any, Any, JobResult]], JobResult]
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover
        runner = asyncio.run
    return runner(_run(job))


async def _run(job: Job) -> JobResult:
    size = job.concurrency if job.mode == "closed" else job.max_connections
    make: Callable[[Job], Connection] = RawConnection if job.client == "raw" else HttpxConnection
    connections = [make(job) for _ in range(size)]
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    try:
        # Open every connection before the clock starts.
        await asyncio.gather(*(c.get("/healthz") for c in connections), return_exceptions=True)
        for c in connections:
            pool.put_nowait(c)
        delay = job.start_at - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        server0 = process_group_cpu(job.server_pgid) if job.server_pgid else None
        busy0, wall0, cpu0 = machine_busy(), time.perf_counter(), time.process_time()
        result = await (_open(job, pool) if job.mode == "open" else _closed(job, pool))
        result.cpu_s = time.process_time() - cpu0
        result.window_s = time.perf_counter() - wall0
        server1 = process_group_cpu(job.server_pgid) if job.server_pgid else None
        busy1 = machine_busy()
        if server0 is not None and server1 is not None:
            result.server_cpu_s = server1 - server0
        if busy0 is not None and busy1 is not None:
            result.machine_busy_s = busy1 - busy0
        return result
    finally:
        await asyncio.gather(*(c.close() for c in connections), return_exceptions=True)


async def _request(
    job: Job, pool: asyncio.Queue[Connection], index: int, result: JobResult, t0: float, sent: float
) -> None:
    connection = await pool.get()
    body = job.bodies[index] if job.bodies else job.body
    if job.fills:
        for placeholder, value in zip(job.placeholders, job.fills[index], strict=True):
            body = body.replace(placeholder, value)
    key = uuid.uuid4().hex if job.idempotency else None
    try:
        status = await connection.post(job.paths[index], body, key)
    except (httpx.HTTPError, OSError, TimeoutError, ValueError, asyncio.IncompleteReadError) as exc:
        status = NO_ANSWER
        result.errors[type(exc).__name__] += 1
    finally:
        pool.put_nowait(connection)
    result.sent.append(sent)
    result.done.append(time.perf_counter() - t0)
    result.status.append(status)


async def _open(job: Job, pool: asyncio.Queue[Connection]) -> JobResult:
    result = JobResult()
    count = min(len(job.paths), round(job.rate * job.duration))
    t0 = time.perf_counter()
    tasks = []
    for i in range(count):
        scheduled = i / job.rate
        wait = scheduled - (time.perf_counter() - t0)
        if wait > 0:
            await asyncio.sleep(wait)
        tasks.append(asyncio.create_task(_request(job, pool, i, result, t0, scheduled)))
    result.issued_until = time.perf_counter() - t0
    if tasks:
        _done, pending = await asyncio.wait(tasks, timeout=job.timeout + 2.0)
        for task in pending:
            task.cancel()
        result.unfinished = len(pending)
        if pending:
            result.errors["unfinished"] += len(pending)
    return result


async def _closed(job: Job, pool: asyncio.Queue[Connection]) -> JobResult:
    result = JobResult()
    indexes = iter(range(len(job.paths)))
    t0 = time.perf_counter()

    async def worker() -> None:
        while time.perf_counter() - t0 < job.duration:
            index = next(indexes, None)
            if index is None:
                return
            await _request(job, pool, index, result, t0, time.perf_counter() - t0)

    await asyncio.gather(*(worker() for _ in range(job.concurrency)))
    result.issued_until = time.perf_counter() - t0
    return result
