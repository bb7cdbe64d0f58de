"""One month's clearing statement over 1,000,000 settlements, on PostgreSQL.

    .venv/bin/python -m bench.clearing [--settlements N] [--period YYYY-MM] [--keep]

Creates a fresh database (``settle_bench_clearing`` beside ``SETTLE_TEST_PG_URL``, default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``), applies the Alembic migrations, and
bulk-loads in SQL (``INSERT ... SELECT FROM generate_series``, no Python per row):

* 30 schemes (each its own insuring region) with a 2026 policy each;
* 100,000 bills at 3,000 hospitals in 300 treatment regions;
* N settlements (default 1,000,000), 10 per bill with distinct ``(bill_id, sequence)`` and a
  different scheme for each of a bill's settlements, appended in time order over the 24 months
  2025-01 .. 2026-12 (about 41,700 a month);
* a reversal of every 20th settlement (5 %), made 0..44 days after it (so some land in the next
  month).

Then ``VACUUM (ANALYZE)`` (what autovacuum does after a bulk load; it also sets the visibility
map that index-only scans need), and times one month's clearing through the real service
functions (``app.services.reports``) and their renderers (``app.schemas.reports``) as JSON
(dict + orjson) and as CSV, through HTTP (``TestClient``, admin, JSON and ``Accept: text/csv``),
for one scheme office, and one hospital's reconciliation for a day; prints ``EXPLAIN (ANALYZE,
BUFFERS)`` of the clearing statement.  The database is dropped at the end unless ``--keep``.  Target: well under 10 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time as clock
import warnings
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Any

os.environ.setdefault("SETTLE_ADMIN_TOKEN", "bench-admin-token")
os.environ.setdefault("SETTLE_LOG_LEVEL", "WARNING")

import orjson
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from app.db.session import reset_engine
from app.schemas.reports import clearing_csv, clearing_public
from app.services import reports
from app.settings import get_settings
from bench.common import scratch_postgres

DB_NAME = "settle_bench_clearing"
SCHEMES, POLICY_YEAR = 30, 2026
REGIONS, HOSPITALS, BILLS = 300, 3_000, 100_000
MONTHS_START, SPAN_SECONDS = "2025-01-01T00:00:00Z", 730 * 86_400  # 24 months (2025 + 2026)
REVERSE_EVERY = 20
ALL_VISIBLE = (
    "SELECT sum(relallvisible)::float / greatest(sum(relpages), 1) FROM pg_class"
    " WHERE relname IN ('settlement', 'reversal')"
)

# Region codes: 300 distinct six-digit treatment regions; scheme s insures region 32ss00.
REGION = "(110101 + ({r}) * 211)::text"
SCHEME = "'SCH-' || lpad(({s})::text, 2, '0')"
SCHEME_REGION = "'32' || lpad(({s})::text, 2, '0') || '00'"


def load_sql(settlements: int) -> list[tuple[str, str]]:
    per_bill = -(-settlements // BILLS)
    if per_bill > SCHEMES:
        raise SystemExit(f"at most {SCHEMES * BILLS} settlements (one active per bill and scheme)")
    # Settlement i is made at start + i * span / N (time order, as appended).  Its bill is
    # b = 7919 i mod BILLS (a permutation within each block of BILLS, so a month touches bills all
    # over), treatment region b mod 300; it is the bill's k-th settlement (k = i / BILLS, sequence
    # k + 1) under scheme (b / 300 + 7k) mod 30 (distinct for k < 30, independent of the region).
    # Ids are uuid-shaped and ascending.
    i_bill, i_k = f"((i::bigint * 7919) % {BILLS})", f"(i / {BILLS})"
    i_scheme = f"((({i_bill} / {REGIONS}) + 7 * {i_k}) % {SCHEMES})"
    made_at = f"(timestamptz '{MONTHS_START}' + (i::bigint * {SPAN_SECONDS} / {settlements}) * interval '1 second')"
    medical = "(100 + (i::bigint * 7919 % 2000000) / 100.0)::numeric(16, 2)"
    return [
        (
            "schemes",
            f"""INSERT INTO scheme (code, name, kind, pooling_region, coordination, updated_at)
            SELECT {SCHEME.format(s="s")}, 'Scheme ' || s, CASE WHEN s % 2 = 0 THEN 'nrcms' ELSE 'uebmi' END,
                   {SCHEME_REGION.format(s="s")}, 'repeat_capped', now()
            FROM generate_series(0, {SCHEMES - 1}) s""",
        ),
        (
            "policies",
            f"""INSERT INTO policy (id, scheme_code, year, annual_cap, body, used, updated_at)
            SELECT s + 1, {SCHEME.format(s="s")}, {POLICY_YEAR}, 150000.00, '{{}}'::json, true, now()
            FROM generate_series(0, {SCHEMES - 1}) s;
            SELECT setval(pg_get_serial_sequence('policy', 'id'), {SCHEMES})""",
        ),
        (
            "bills",
            f"""INSERT INTO bill (id, hospital_code, bill_no, hospital_name, hospital_level, hospital_region,
                patient_id_number, patient_name, setting, admission_date, discharge_date, diagnoses, items,
                medical_total, content_hash, paid_total, last_sequence, created_by, created_at)
            SELECT lpad(to_hex(b), 32, '0')::uuid::text, 'H' || lpad((b % {HOSPITALS})::text, 4, '0'), 'BN' || b,
                   'Hospital ' || (b % {HOSPITALS}), 2, {REGION.format(r=f"b % {REGIONS}")},
                   '5116231990030' || lpad((b % 100000)::text, 5, '0'), 'Patient ' || b, 'inpatient',
                   date '2025-01-01', date '2025-01-05', '[]'::json, '[]'::json,
                   999999.00, md5('c' || b), 0, {per_bill}, 'bench', timestamptz '{MONTHS_START}'
            FROM generate_series(0, {BILLS - 1}) b""",
        ),
        (
            "settlements",
            f"""INSERT INTO settlement (id, bill_id, scheme_code, sequence, status, policy_year, policy_id,
                patient_id_number, hospital_code, insuring_region, treatment_region, offsite, registered,
                setting, medical_total, excluded, over_limit, b_self_pay, in_scope, deductible,
                yearly_deductible, computed_benefit, benefit_after_cap, prior_payments, coordination_mode,
                fund_payment, coordination_reduction, patient_responsibility, external_total, detail,
                created_by, created_at, reversed_at)
            SELECT ('f' || lpad(to_hex(i), 31, '0'))::uuid::text, lpad(to_hex({i_bill}), 32, '0')::uuid::text,
                   {SCHEME.format(s=i_scheme)},
                   {i_k} + 1, CASE WHEN i % {REVERSE_EVERY} = 0 THEN 'reversed' ELSE 'settled' END,
                   {POLICY_YEAR}, {i_scheme} + 1,
                   '5116231990030' || lpad(({i_bill} % 100000)::text, 5, '0'),
                   'H' || lpad(({i_bill} % {HOSPITALS})::text, 4, '0'), {SCHEME_REGION.format(s=i_scheme)},
                   {REGION.format(r=f"{i_bill} % {REGIONS}")}, 'out_of_province', true, 'inpatient',
                   m, 0, 0, 0, m, 0, 0, f, f, 0, 'repeat_capped', f, 0, m - f, 0, '{{}}'::json, 'bench', t,
                   CASE WHEN i % {REVERSE_EVERY} = 0 THEN t + (i % 45) * interval '1 day' END
            FROM generate_series(0, {settlements - 1}) i,
                 LATERAL (SELECT {medical} AS m, {made_at} AS t) v,
                 LATERAL (SELECT round(v.m * 0.6, 2) AS f) w""",
        ),
        (
            "reversals",
            """INSERT INTO reversal (id, settlement_id, bill_id, scheme_code, hospital_code, insuring_region,
                treatment_region, medical_total, fund_payment, external_total, created_by, created_at)
            SELECT 'e' || substr(id, 2), id, bill_id, scheme_code, hospital_code, insuring_region,
                   treatment_region, medical_total, fund_payment, 0, 'bench', reversed_at
            FROM settlement WHERE status = 'reversed'""",
        ),
    ]


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, float, Any]:
    """(first run, median of the next ``runs``) in seconds, and the last result."""
    start = clock.perf_counter()
    result = fn()
    first = clock.perf_counter() - start
    times = []
    for _ in range(runs):
        start = clock.perf_counter()
        result = fn()
        times.append(clock.perf_counter() - start)
    return first, statistics.median(times) if times else first, result


def report(label: str, first: float, median: float, extra: str = "") -> None:
    print(f"  {label:<44} first {first * 1000:8.1f} ms   median {median * 1000:8.1f} ms   {extra}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.clearing", description=__doc__.split("\n")[0])
    parser.add_argument("--settlements", type=int, default=1_000_000)
    parser.add_argument("--period", default="2026-01")
    parser.add_argument("--runs", type=int, default=5, help="timed repetitions after the first run")
    parser.add_argument("--keep", action="store_true", help=f"keep the database {DB_NAME}")
    args = parser.parse_args(argv)

    with scratch_postgres(DB_NAME, keep=args.keep) as url:
        run(args, url)
    return 0


def run(args: argparse.Namespace, url: str) -> None:
    engine: Engine | None = None
    try:
        engine = create_engine(url)
        print(f"database {DB_NAME}: {args.settlements:,} settlements, period {args.period}")
        total_start = clock.perf_counter()
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL synchronous_commit = off"))
            for name, sql in load_sql(args.settlements):
                start = clock.perf_counter()
                for statement in sql.split(";\n"):
                    conn.execute(text(statement))
                print(f"  loaded {name:<12} {clock.perf_counter() - start:7.1f} s")
        load = clock.perf_counter() - total_start
        start = clock.perf_counter()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM (ANALYZE) settlement, reversal, bill, scheme, policy"))
            # A snapshot held elsewhere (another session of this database, e.g. an autovacuum
            # ANALYZE) keeps VACUUM from marking the new pages all-visible; index-only scans then
            # visit the heap.  Try again a few times and report what was reached.
            for _ in range(5):
                visible = conn.execute(text(ALL_VISIBLE)).scalar_one()
                if visible >= 0.99:
                    break
                clock.sleep(2)
                conn.execute(text("VACUUM settlement, reversal"))
        vacuum = clock.perf_counter() - start
        with engine.connect() as conn:
            counts = conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM settlement), (SELECT count(*) FROM reversal),"
                    " pg_size_pretty(pg_total_relation_size('settlement')),"
                    " pg_size_pretty(pg_relation_size('ix_settlement_created_at'))"
                )
            ).one()
        print(
            f"load: {load:.1f} s (indexes maintained during the load), VACUUM (ANALYZE): {vacuum:.1f} s "
            f"({visible:.0%} of the settlement and reversal pages all-visible); "
            f"{counts[0]:,} settlements, {counts[1]:,} reversals; settlement table with indexes {counts[2]}, "
            f"ix_settlement_created_at {counts[3]}"
        )

        os.environ["SETTLE_DATABASE_URL"] = url
        get_settings.cache_clear()
        reset_engine()
        period = args.period
        print(f"\nclearing {period} (times include the SQL and building the response body):")
        with Session(engine) as s:
            first, median, body = timed(
                lambda: orjson.dumps(clearing_public(reports.clearing(s, period=period))), args.runs
            )
            doc = orjson.loads(body)
            report("service, JSON (all schemes)", first, median, f"{len(doc['rows']):,} rows, {len(body):,} bytes")
            totals = doc["totals"]
            print(
                f"    totals: {totals['settlements']:,} settlements, {totals['reversals']:,} reversals, "
                f"medical {totals['medical_total']}, fund {totals['fund_payment']}"
            )
            first, median, csv_text = timed(lambda: clearing_csv(reports.clearing(s, period=period)), args.runs)
            report("service, CSV (all schemes)", first, median, f"{csv_text.count(chr(10)) - 1:,} rows")
            first, median, body = timed(
                lambda: orjson.dumps(clearing_public(reports.clearing(s, period=period, scheme_code="SCH-07"))),
                args.runs,
            )
            report("service, JSON (one scheme office)", first, median, f"{len(orjson.loads(body)['rows']):,} rows")
            day = date.fromisoformat(period + "-15")
            hospital = s.execute(
                text("SELECT hospital_code FROM settlement WHERE created_at >= :d ORDER BY created_at LIMIT 1"),
                {"d": datetime.combine(day, time(12), tzinfo=UTC)},
            ).scalar_one()
            first, median, rec = timed(lambda: reports.reconciliation(s, hospital_code=hospital, day=day), args.runs)
            report(f"service, reconciliation {hospital} {day}", first, median, f"{len(rec.rows)} rows")

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # starlette's TestClient deprecation notice
            from fastapi.testclient import TestClient

        from app.main import app

        token = os.environ["SETTLE_ADMIN_TOKEN"]
        with TestClient(app) as client:
            headers = {"Authorization": f"Bearer {token}"}

            def http(accept: str) -> Any:
                r = client.get("/v1/clearing", params={"period": period}, headers={**headers, "Accept": accept})
                assert r.status_code == 200, r.text
                return r

            first, median, r = timed(lambda: http("application/json"), args.runs)
            report("HTTP GET /v1/clearing, JSON", first, median, f"{len(r.content):,} bytes")
            first, median, r = timed(lambda: http("text/csv"), args.runs)
            report("HTTP GET /v1/clearing, CSV", first, median, f"{len(r.content):,} bytes")
        reset_engine()

        query = reports.clearing_query(period=period)
        compiled = query.compile(dialect=engine.dialect)
        with engine.connect() as conn:
            plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + str(compiled), compiled.params).scalars().all()
        print(f"\nEXPLAIN (ANALYZE, BUFFERS) of the clearing statement ({period}, all schemes):")
        print("\n".join("  " + line for line in plan))
    finally:
        if engine is not None:
            engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
