"""(b) HTTP: settlements against a real 2-worker uvicorn server, and the echo ceiling.

For each backend (PostgreSQL, SQLite): a fresh database migrated with
``app.db.migrate.upgrade``, the server started on it, the sample reference data loaded over
HTTP, a hospital client created (its token is looked up on every request, as in production),
members created over HTTP (``PUT /v1/schemes/{code}/members/{no}``), then the bills inserted
directly into the database through the service's own canonical form (``app.services.bills``)
because submitting tens of thousands of them over HTTP would take most of the time budget.
Bill ``i`` belongs to patient ``i mod M`` (at most 30 bills each, NRCMS pays 4,815.00 a bill:
the 150,000.00 annual cap never binds, and requests in flight together are for different
patients, so they do not queue on the same accumulator row).

The measured operation is ``POST /v1/bills/{id}/settlements {"scheme_code": "NRCMS-511623"}``,
each bill settled once, from generator processes (:mod:`bench.loadgen`): open loop at fixed
offered rates, then a closed loop (saturation), then ``UEBMI-321100`` as the second payer on
the bills of the first phase (closed loop).
"""

from __future__ import annotations

import asyncio
import dataclasses
import multiprocessing
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

import httpx
import orjson
from sqlalchemy import create_engine, func, insert, select
from sqlmodel import col

from app.sample import SAMPLE_DIR
from bench.common import (
    ADMIN_TOKEN,
    HOSPITAL_CODE,
    NRCMS,
    UEBMI,
    Latency,
    bill_with_lines,
    member_body,
    resident_id,
    sample_bill,
)
from bench.loadgen import ClientKind, Job, JobResult, run_job
from bench.server import Server, bench_database, served

_T = TypeVar("_T")
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
#: Bills per patient: 30 x 4,815.00 = 144,450.00 stays under the NRCMS annual cap of 150,000.00.
BILLS_PER_PATIENT = 30
#: At least as many patients as requests can be in flight (2 x 128 connections in the open loop),
#: so that the bills in flight together (consecutive ones) are all of different patients.
MIN_PATIENTS = 256
#: Patients who are UEBMI members too; the UEBMI phase settles their bills of the 250/s phase.
UEBMI_PATIENTS = 512


@dataclass(frozen=True)
class Config:
    quick: bool
    rates: tuple[int, ...] = (250, 500, 1000)
    #: A first open-loop phase far below capacity: the latency and CPU of a request without queueing.
    baseline_rate: int = 20
    concurrency: int = 64
    generators: int = 2
    uebmi_second: bool = True
    client: ClientKind = "raw"

    @property
    def duration(self) -> float:
        return 2.0 if self.quick else 10.0

    @property
    def timeout(self) -> float:
        """Per request; an open-loop phase waits at most this (+2 s) for its last answers."""
        return 5.0 if self.quick else 10.0

    @property
    def e2e_repeats(self) -> int:
        return 1 if self.quick else 3

    @property
    def saturation_pool(self) -> int:
        """Bills for the closed loop: enough for 1,500 settlements a second."""
        return int(1500 * self.duration)


@dataclass(frozen=True)
class Phase:
    name: str
    mode: Literal["open", "closed"]
    offered: float | None
    concurrency: int | None
    duration: float
    requests: int
    ok: int
    achieved: float
    latency: Latency
    errors: dict[str, int]
    #: The measured window (from the start to the last answer), and the CPU spent in it.
    wall_s: float = 0.0
    server_cpu_s: float | None = None
    generator_cpu_s: float = 0.0
    machine_busy_s: float | None = None

    #: Requests that got an HTTP answer.
    answered: int = 0
    #: Latency of the requests sent in the phase's first second, and of those sent after it
    #: (open loop: by scheduled send time), over every request as ``latency``.
    first_second: Latency | None = None
    after_first_second: Latency | None = None
    #: The most requests one generator process issued: its share of the paths used up to
    #: ``issued_per_process`` (paths are dealt out interleaved, ``paths[p::n]``).
    issued_per_process: int = 0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def server_cpu_ms_per_request(self) -> float | None:
        return None if self.server_cpu_s is None or not self.requests else self.server_cpu_s / self.requests * 1000

    @property
    def generator_cpu_ms_per_request(self) -> float | None:
        return self.generator_cpu_s / self.requests * 1000 if self.requests else None

    @property
    def busy_cores(self) -> float | None:
        return None if self.machine_busy_s is None or not self.wall_s else self.machine_busy_s / self.wall_s


@dataclass(frozen=True)
class EndToEnd:
    lines: int
    submit_s: float
    settle_s: float
    submit_status: int
    settle_status: int
    request_bytes: int
    response_bytes: int

    @property
    def total_s(self) -> float:
        return self.submit_s + self.settle_s


@dataclass
class BackendResult:
    backend: str
    patients: int = 0
    bills: int = 0
    setup_s: float = 0.0
    phases: list[Phase] = field(default_factory=list)
    e2e: list[EndToEnd] = field(default_factory=list)
    settled_in_db: int | None = None
    settled_acknowledged: int = 0
    #: Requests whose answer never reached the generator (it gave up, or the connection failed):
    #: the server may still have settled them.
    settled_unanswered: int = 0
    server_problems: list[str] = field(default_factory=list)

    def phase(self, name: str) -> Phase | None:
        return next((p for p in self.phases if p.name == name), None)

    @property
    def e2e_median(self) -> EndToEnd | None:
        if not self.e2e:
            return None
        total = statistics.median_low([e.total_s for e in self.e2e])
        return next(e for e in self.e2e if e.total_s == total)


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def log_phase(backend: str, p: Phase) -> None:
    errors = f", {p.error_count} errors" if p.error_count else ""
    p50, p99 = p.latency.p50 * 1000, p.latency.p99 * 1000
    log(f"{backend}: {p.name}: {p.achieved:,.0f}/s, p50 {p50:,.1f} ms, p99 {p99:,.1f} ms{errors}")


# --- generator processes ---------------------------------------------------------------------


class Generators:
    """A pool of load-generator processes (``spawn``: nothing of this process leaks into them)."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.pool = ProcessPoolExecutor(max_workers=count, mp_context=multiprocessing.get_context("spawn"))
        # Start them all now (tasks that overlap in time need a process each), so that the first
        # phase does not pay for their imports.
        list(self.pool.map(_warm_up, range(count)))

    def run(self, jobs: Sequence[Job]) -> list[JobResult]:
        """One job per process, all at once."""
        results = list(self.pool.map(run_job, jobs))
        if len({r.pid for r in results}) != len(results):
            raise RuntimeError("two generator jobs ran in the same process, one after the other")
        return results

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def _warm_up(_i: int) -> None:
    import bench.loadgen  # noqa: F401

    time.sleep(0.5)


@contextmanager
def generators(count: int) -> Iterator[Generators]:
    gens = Generators(count)
    try:
        yield gens
    finally:
        gens.close()


def _split(items: Sequence[_T], parts: int) -> list[list[_T]]:
    """Interleaved: requests in flight together are consecutive items, spread over the processes."""
    return [list(items[p::parts]) for p in range(parts)]


def open_loop(
    gens: Generators,
    server: Server,
    token: str,
    name: str,
    paths: Sequence[str],
    body: bytes,
    *,
    rate: float,
    seconds: float,
    timeout: float,
    client: ClientKind,
    idempotency: bool = False,
    fills: Sequence[tuple[bytes, ...]] = (),
    placeholders: tuple[bytes, ...] = (),
) -> Phase:
    """``fills``: one per path, see :class:`bench.loadgen.Job`."""
    start = time.time() + 1.0
    n = gens.count
    fill_shares = _split(fills, n) if fills else [[] for _ in range(n)]
    jobs = [
        Job(
            server.base_url,
            token,
            "open",
            share,
            body,
            duration=seconds,
            start_at=start + p / rate,
            rate=rate / n,
            max_connections=128,
            timeout=timeout,
            client=client,
            server_pgid=server.pgid,
            idempotency=idempotency,
            fills=fill_shares[p],
            placeholders=placeholders,
        )
        for p, share in enumerate(_split(paths, n))
    ]
    return _summarize(name, "open", gens.run(jobs), offered=rate, concurrency=None, seconds=seconds)


def closed_loop(
    gens: Generators,
    server: Server,
    token: str,
    name: str,
    paths: Sequence[str],
    body: bytes,
    *,
    concurrency: int,
    seconds: float,
    client: ClientKind,
    bodies: Sequence[bytes] = (),
    idempotency: bool = False,
    fills: Sequence[tuple[bytes, ...]] = (),
    placeholders: tuple[bytes, ...] = (),
) -> Phase:
    """``bodies``: one per path (request ``i`` sends ``bodies[i]``) instead of ``body``;
    ``fills``: one per path, see :class:`bench.loadgen.Job`."""
    start = time.time() + 1.0
    n = gens.count
    per = max(1, concurrency // n)
    body_shares = [list(bodies[p::n]) for p in range(n)] if bodies else [[] for _ in range(n)]
    fill_shares = _split(fills, n) if fills else [[] for _ in range(n)]
    jobs = [
        Job(
            server.base_url,
            token,
            "closed",
            share,
            body,
            duration=seconds,
            start_at=start,
            concurrency=per,
            client=client,
            server_pgid=server.pgid,
            bodies=body_shares[p],
            idempotency=idempotency,
            fills=fill_shares[p],
            placeholders=placeholders,
        )
        for p, share in enumerate(_split(paths, n))
    ]
    return _summarize(name, "closed", gens.run(jobs), offered=None, concurrency=per * n, seconds=seconds)


def _summarize(
    name: str,
    mode: Literal["open", "closed"],
    results: list[JobResult],
    *,
    offered: float | None,
    concurrency: int | None,
    seconds: float,
) -> Phase:
    sent = [s for r in results for s in r.sent]
    done = [d for r in results for d in r.done]
    status = [s for r in results for s in r.status]
    errors: Counter[str] = Counter()
    for r in results:
        errors.update(r.errors)
    for s in status:
        if s not in (200, 201) and s != 0:
            errors[str(s)] += 1
    ok_done = [d for d, s in zip(done, status, strict=True) if s in (200, 201)]
    latencies = [d - s for s, d in zip(sent, done, strict=True)]
    first_second = [d - s for s, d in zip(sent, done, strict=True) if s < 1.0]
    after_first_second = [d - s for s, d in zip(sent, done, strict=True) if s >= 1.0]
    if mode == "open":
        # Until the last answer: a backlog the server could not absorb stretches the time.
        elapsed = max([seconds, *done])
        achieved = len(ok_done) / elapsed
    else:
        # The steady window: without the first second (connections, caches), until issuing stopped.
        warm = min(1.0, 0.2 * seconds)
        end = min([seconds, *(r.issued_until for r in results)])
        if end - warm > 0.2:
            achieved = sum(1 for d in ok_done if warm <= d <= end) / (end - warm)
        else:
            achieved = len(ok_done) / max([1e-9, *done])
    requests = len(status) + sum(r.unfinished for r in results)
    return Phase(
        name,
        mode,
        offered,
        concurrency,
        seconds,
        requests,
        len(ok_done),
        achieved,
        Latency.of(latencies),
        dict(errors),
        # Generator 0 read the server's and the machine's CPU at the start and the end of its job.
        wall_s=results[0].window_s,
        server_cpu_s=results[0].server_cpu_s,
        generator_cpu_s=sum(r.cpu_s for r in results),
        machine_busy_s=results[0].machine_busy_s,
        answered=sum(1 for s in status if s != 0),
        first_second=Latency.of(first_second),
        after_first_second=Latency.of(after_first_second),
        issued_per_process=max(len(r.status) + r.unfinished for r in results),
    )


# --- setting up a backend --------------------------------------------------------------------


def _check(response: httpx.Response, *expected: int) -> httpx.Response:
    if response.status_code not in expected:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path}: {response.status_code} {response.text[:500]}"
        )
    return response


def load_reference_over_http(client: httpx.Client) -> None:
    """The sample hospitals, schemes, catalogs, policies and member, through the API."""

    def read(name: str) -> Any:
        return orjson.loads((SAMPLE_DIR / name).read_bytes())

    for hospital in read("v2/hospitals.json"):
        _check(client.put(f"/v1/hospitals/{hospital['code']}", json=hospital, headers=ADMIN), 200, 201)
    for scheme in read("schemes.json"):
        _check(client.put(f"/v1/schemes/{scheme['code']}", json=scheme, headers=ADMIN), 200, 201)
    for code, catalogs in read("catalogs.json").items():
        for catalog in catalogs if isinstance(catalogs, list) else [catalogs]:
            _check(
                client.put(f"/v1/schemes/{code}/catalogs/{catalog['version']}", json=catalog, headers=ADMIN), 200, 201
            )
    for code, policies in read("policies.json").items():
        for policy in policies if isinstance(policies, list) else [policies]:
            _check(client.put(f"/v1/schemes/{code}/policies/{policy['year']}", json=policy, headers=ADMIN), 200, 201)
    for code, members in read("members.json").items():
        for m in members:
            _check(client.put(f"/v1/schemes/{code}/members/{m['member_no']}", json=m, headers=ADMIN), 200, 201)


def create_hospital_client(client: httpx.Client) -> tuple[str, str]:
    body = {"name": "bench hospital", "role": "hospital", "hospital_code": HOSPITAL_CODE}
    created = _check(client.post("/v1/clients", json=body, headers=ADMIN), 201).json()
    return str(created["client_id"]), str(created["token"])


def enrol_members(client: httpx.Client, patients: Sequence[str], *, prefix: str) -> None:
    """Each patient a member of the NRCMS sample scheme, member numbers ``<prefix>00000000`` on."""
    for n, id_number in enumerate(patients):
        member_no = f"{prefix}{n:08d}"
        body = member_body(member_no, id_number, NRCMS)
        _check(client.put(f"/v1/schemes/{NRCMS}/members/{member_no}", json=body, headers=ADMIN), 200, 201)


async def _put_members(base_url: str, members: Sequence[tuple[str, str, str]], concurrency: int = 16) -> None:
    queue = iter(members)
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, headers=ADMIN, limits=limits, timeout=30.0) as client:

        async def worker() -> None:
            for scheme, member_no, id_number in queue:
                body = member_body(member_no, id_number, scheme)
                _check(await client.put(f"/v1/schemes/{scheme}/members/{member_no}", json=body), 200, 201)

        await asyncio.gather(*(worker() for _ in range(concurrency)))


def put_members(base_url: str, members: Sequence[tuple[str, str, str]]) -> None:
    asyncio.run(_put_members(base_url, members))


def insert_bills(url: str, created_by: str, patients: Sequence[str], count: int, prefix: str) -> list[str]:
    """``count`` copies of the sample bill (bill ``i`` for patient ``i mod len(patients)``), as
    ``app.services.bills.submit`` would store them, in a few multi-row inserts."""
    from app.db import tables as db
    from app.schemas.bills import BillCreate
    from app.services.bills import bill_row, canonical_items, validated

    template = validated(BillCreate.model_validate(sample_bill()))
    items = canonical_items(template)
    now = datetime.now(UTC)
    ids: list[str] = []
    rows: list[dict[str, object]] = []
    for i in range(count):
        id_number = patients[i % len(patients)]
        bill = dataclasses.replace(
            template, bill_no=f"{prefix}{i:07d}", patient_id_number=id_number, patient_name=f"Patient {id_number[-6:]}"
        )
        bill_id = str(uuid.uuid4())
        ids.append(bill_id)
        rows.append(bill_row(bill, bill_id=bill_id, created_by=created_by, created_at=now, items=items).values())
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for chunk in range(0, len(rows), 2000):
                conn.execute(insert(db.Bill), rows[chunk : chunk + 2000])
    finally:
        engine.dispose()
    return ids


def count_settled(url: str) -> int:
    from app.db import tables as db

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).where(col(db.Settlement.status) == "settled")).scalar_one())
    finally:
        engine.dispose()


def end_to_end(client: httpx.Client, token: str, lines: int, repeat: int) -> list[EndToEnd]:
    """A ``lines``-line bill: ``POST /v1/bills`` then ``POST /v1/bills/{id}/settlements``, timed."""
    id_number = resident_id(999_000)
    member = member_body("E2E0000001", id_number, NRCMS)
    _check(client.put(f"/v1/schemes/{NRCMS}/members/E2E0000001", json=member, headers=ADMIN), 200, 201)
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    settle_body = orjson.dumps({"scheme_code": NRCMS})
    out = []
    for k in range(repeat):
        body = orjson.dumps(bill_with_lines(lines, bill_no=f"E2E{lines}-{k}", id_number=id_number))
        t0 = time.perf_counter()
        submitted = client.post("/v1/bills", content=body, headers=auth)
        t1 = time.perf_counter()
        _check(submitted, 201)
        bill_id = submitted.json()["bill_id"]
        t2 = time.perf_counter()
        settled = client.post(f"/v1/bills/{bill_id}/settlements", content=settle_body, headers=auth)
        t3 = time.perf_counter()
        _check(settled, 201)
        out.append(
            EndToEnd(
                lines,
                t1 - t0,
                t3 - t2,
                submitted.status_code,
                settled.status_code,
                len(body),
                len(submitted.content) + len(settled.content),
            )
        )
    return out


def run_backend(
    backend: Literal["postgresql", "sqlite"], gens: Generators | None, cfg: Config, *, load: bool, e2e: bool
) -> BackendResult:
    result = BackendResult(backend)
    seconds = cfg.duration
    phase_bills = [int(rate * seconds) for rate in (cfg.baseline_rate, *cfg.rates)]
    total = sum(phase_bills) + cfg.saturation_pool if load else 0
    patients = max(MIN_PATIENTS, -(-total // BILLS_PER_PATIENT)) if load else 0
    with tempfile.TemporaryDirectory(prefix="settle-bench-") as folder, bench_database(backend) as url:
        t_setup = time.perf_counter()
        log(f"{backend}: starting uvicorn (2 workers)")
        with served("app.main:app", Path(folder), {"SETTLE_DATABASE_URL": url}) as server:
            try:
                with httpx.Client(base_url=server.base_url, timeout=120.0) as client:
                    load_reference_over_http(client)
                    client_id, token = create_hospital_client(client)
                    if e2e:
                        log(f"{backend}: one 10,000-line bill end to end, x{cfg.e2e_repeats}")
                        t0 = time.perf_counter()
                        result.e2e = end_to_end(client, token, 10_000, cfg.e2e_repeats)
                        result.settled_acknowledged += len(result.e2e)
                        t_setup += time.perf_counter() - t0  # not part of the setup
                if load and gens is not None:
                    _load(result, server, url, gens, cfg, client_id, token, patients, phase_bills, t_setup)
            finally:
                result.server_problems = server.log_problems()
        result.settled_in_db = count_settled(url)
    return result


def _load(
    result: BackendResult,
    server: Server,
    url: str,
    gens: Generators,
    cfg: Config,
    client_id: str,
    token: str,
    patients: int,
    phase_bills: list[int],
    t_setup: float,
) -> None:
    backend, seconds = result.backend, cfg.duration
    ids = [resident_id(n) for n in range(patients)]
    # The UEBMI phase settles a second time the bills of the phase at 250/s (phase_bills[1]) of
    # the patients who are UEBMI members.
    uebmi_patients = min(patients, UEBMI_PATIENTS)
    uebmi_bills = [i for i in range(phase_bills[0], phase_bills[0] + phase_bills[1]) if i % patients < uebmi_patients]
    members = [(NRCMS, f"NB{n:08d}", ids[n]) for n in range(patients)]
    if cfg.uebmi_second:
        members += [(UEBMI, f"UB{n:08d}", ids[n]) for n in range(uebmi_patients)]
    t0 = time.perf_counter()
    put_members(server.base_url, members)
    log(f"{backend}: {len(members)} members over HTTP in {time.perf_counter() - t0:.1f} s")
    total = sum(phase_bills) + cfg.saturation_pool
    t0 = time.perf_counter()
    bill_ids = insert_bills(url, client_id, ids, total, prefix="B")
    log(f"{backend}: {total} bills inserted in {time.perf_counter() - t0:.1f} s")
    result.patients, result.bills = patients, total
    result.setup_s = time.perf_counter() - t_setup
    nrcms = orjson.dumps({"scheme_code": NRCMS})
    paths = [f"/v1/bills/{b}/settlements" for b in bill_ids]
    first = 0
    for rate, count in zip((cfg.baseline_rate, *cfg.rates), phase_bills, strict=True):
        log(f"{backend}: open loop {rate}/s for {seconds:.0f} s")
        phase = open_loop(
            gens,
            server,
            token,
            f"open {rate}/s" + (" (baseline)" if rate == cfg.baseline_rate else ""),
            paths[first : first + count],
            nrcms,
            rate=rate,
            seconds=seconds,
            timeout=cfg.timeout,
            client=cfg.client,
        )
        result.phases.append(phase)
        log_phase(backend, phase)
        first += count
        server.wait_idle()
    log(f"{backend}: closed loop, {cfg.concurrency} concurrent, {seconds:.0f} s")
    phase = closed_loop(
        gens,
        server,
        token,
        "saturation",
        paths[first:],
        nrcms,
        concurrency=cfg.concurrency,
        seconds=seconds,
        client=cfg.client,
    )
    result.phases.append(phase)
    log_phase(backend, phase)
    if cfg.uebmi_second:
        server.wait_idle()
        log(f"{backend}: UEBMI second payer, closed loop")
        phase = closed_loop(
            gens,
            server,
            token,
            "saturation, UEBMI second payer",
            [paths[i] for i in uebmi_bills],
            orjson.dumps({"scheme_code": UEBMI}),
            concurrency=cfg.concurrency,
            seconds=min(seconds, 5.0),
            client=cfg.client,
        )
        result.phases.append(phase)
        log_phase(backend, phase)
    result.settled_acknowledged += sum(p.ok for p in result.phases)
    result.settled_unanswered += sum(p.requests - p.answered for p in result.phases)


def run_echo(gens: Generators, cfg: Config) -> Phase:
    body = orjson.dumps({"scheme_code": NRCMS, "bill": sample_bill()})
    paths = [f"/v1/bills/echo-{i}/settlements" for i in range(int(8000 * cfg.duration))]
    with (
        tempfile.TemporaryDirectory(prefix="settle-bench-") as folder,
        served("bench.echo_app:app", Path(folder), {}) as s,
    ):
        log(f"echo: closed loop, {cfg.concurrency} concurrent, {cfg.duration:.0f} s")
        phase = closed_loop(
            gens,
            s,
            "none",
            "echo saturation",
            paths,
            body,
            concurrency=cfg.concurrency,
            seconds=cfg.duration,
            client=cfg.client,
        )
    log_phase("echo", phase)
    return phase
