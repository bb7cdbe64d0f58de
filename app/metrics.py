"""Prometheus metrics.

With several uvicorn workers each is a process of its own; ``python -m app serve`` then sets
``PROMETHEUS_MULTIPROC_DIR`` (a fresh temporary folder unless given) so ``/metrics`` sums every
worker through ``MultiProcessCollector``.
"""

from __future__ import annotations

import os
from decimal import Decimal

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUESTS = Histogram(
    "settle_http_request_duration_seconds",
    "HTTP requests by route template, method and status, with their latency",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
SETTLEMENTS = Counter("settle_settlements_total", "Settlement requests by scheme and outcome", ["scheme", "outcome"])
PAID = Counter("settle_fund_paid_yuan_total", "Fund payments settled, in yuan, by scheme", ["scheme"])
REDUCTIONS = Counter(
    "settle_coordination_reduction_yuan_total", "Coordination reductions, in yuan, by scheme", ["scheme"]
)
DB_RETRIES = Counter(
    "settle_db_retries_total", "Write transactions run again after a lock conflict", ["operation", "reason"]
)
LOCK_WAIT = Histogram(
    "settle_db_transaction_seconds",
    "Duration of write transactions including lock waits and retries",
    ["operation"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0),
)
POOL_IN_USE = Gauge(
    "settle_db_pool_connections_in_use", "Database connections checked out of the pool", multiprocess_mode="livesum"
)
POOL_SIZE = Gauge("settle_db_pool_size", "Configured database pool size", multiprocess_mode="max")


def observe_settlement(
    scheme: str, outcome: str, fund_payment: Decimal | None = None, reduction: Decimal | None = None
) -> None:
    SETTLEMENTS.labels(scheme, outcome).inc()
    if fund_payment is not None:
        PAID.labels(scheme).inc(float(fund_payment))
    if reduction is not None:
        REDUCTIONS.labels(scheme).inc(float(reduction))


def exposition() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
