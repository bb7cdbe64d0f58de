"""A settlement read as a FHIR ``ClaimResponse`` beside the same settlement read from the REST API:
``python -m bench.fhir``.

In process, through the whole ASGI application (``TestClient``: auth, the request observer and its
audit record of each read, the FHIR mount), on a fresh database loaded with the sample: the v2
bill 3 claim (four settlements of six lines, one of them a tier) and the v1 bill 1 claim (two
settlements of seven lines), then every round reads each settlement once as
``GET /v1/settlements/{id}`` and once as ``GET /fhir/R4/ClaimResponse/{id}`` (and, for the record,
``GET /fhir/R4/ExplanationOfBenefit/{id}``), alternating which goes first, as a client of the service.
Prints the time per read (median, mean, p95) and the FHIR/REST ratio of the medians, and what
building the resource costs out of the request: built with ``model_construct`` and written by
:func:`app.fhir.serialize.fhir_json` (what the service does), validated by the R4B model instead,
and written by the library's ``model_dump_json`` instead.  The target: the ClaimResponse read costs at
most twice the REST read.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.common import ADMIN_TOKEN, machine, percentile
from bench.common import PG_URL as _PG_URL

TARGET = 2.0


@contextmanager
def database(kind: str) -> Iterator[str]:
    if kind == "postgresql":
        from bench.common import scratch_postgres

        with scratch_postgres("settle_bench_fhir") as url:
            yield url
        return
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench-fhir.db'}"
        from app.db.migrate import upgrade

        upgrade(url)
        yield url


def _stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median": statistics.median(ordered) * 1000,
        "mean": statistics.fmean(ordered) * 1000,
        "p95": percentile(ordered, 95) * 1000,
    }


def _time(call: Callable[[], Any], n: int) -> float:
    """Seconds per call, best of three runs of ``n``."""
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(n):
            call()
        best = min(best, (time.perf_counter() - t0) / n)
    return best


def run(kind: str, rounds: int) -> dict[str, Any]:
    with database(kind) as url:
        os.environ.update(
            {"SETTLE_DATABASE_URL": url, "SETTLE_ADMIN_TOKEN": ADMIN_TOKEN, "SETTLE_LOG_LEVEL": "WARNING"}
        )
        from fastapi.testclient import TestClient

        from app.db.session import reset_engine
        from app.main import create_app
        from app.sample import SAMPLE_DIR
        from app.sample.loader import load_sample
        from app.settings import get_settings

        get_settings.cache_clear()
        reset_engine()
        load_sample()
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        import json

        bill_1 = json.loads((SAMPLE_DIR / "bill-1.json").read_text(encoding="utf-8"))
        bill_3 = json.loads((SAMPLE_DIR / "v2" / "bill-3.json").read_text(encoding="utf-8"))
        with TestClient(create_app()) as client:
            claims = [
                (bill_3, ["NRCMS-511623", "SI-511623", "MA-511623", "UEBMI-321100"]),
                (bill_1, ["NRCMS-511623", "UEBMI-321100"]),
            ]
            ids: list[str] = []
            for bill, schemes in claims:
                r = client.post("/v1/claims", json={"bill": bill, "schemes": schemes}, headers=admin)
                assert r.status_code == 201, r.text
                ids += [s["settlement_id"] for s in r.json()["settlements"]]
            # A client's token, as callers have (looked up, then cached), of a role that reads both bills.
            r = client.post("/v1/clients", json={"name": "bench", "role": "admin"}, headers=admin)
            auth = {"Authorization": f"Bearer {r.json()['token']}"}
            paths = {
                "rest": "/v1/settlements/{}",
                "fhir": "/fhir/R4/ClaimResponse/{}",
                "eob": "/fhir/R4/ExplanationOfBenefit/{}",
            }
            samples: dict[str, list[float]] = {name: [] for name in paths}
            for _ in range(20):
                for sid in ids:
                    for path in paths.values():
                        assert client.get(path.format(sid), headers=auth).status_code == 200
            order = list(paths)
            for n in range(rounds):
                for sid in ids:
                    for name in order if n % 2 == 0 else reversed(order):
                        t0 = time.perf_counter()
                        r = client.get(paths[name].format(sid), headers=auth)
                        samples[name].append(time.perf_counter() - t0)
                        assert r.status_code == 200
        built = _build_costs(url, ids[0])
        reset_engine()
    reads = {name: _stats(s) for name, s in samples.items()}
    return {
        "database": kind,
        "reads": len(samples["rest"]),
        "per_read_ms": reads,
        "ratio": reads["fhir"]["median"] / reads["rest"]["median"],
        "eob_ratio": reads["eob"]["median"] / reads["rest"]["median"],
        "build_ms": built,
    }


def _build_costs(url: str, settlement_id: str) -> dict[str, float]:
    """Building the first settlement's ClaimResponse out of the request, three ways (ms each)."""
    from fhir.resources.R4B.claimresponse import ClaimResponse

    from app.db.tx import read_session
    from app.fhir import resources
    from app.fhir.serialize import fhir_document, fhir_json
    from app.ledger.reads import find_settlement_with_parties

    with read_session() as s:
        record, parties = find_settlement_with_parties(s, settlement_id)
    resource = resources.claim_response(record, parties.patient_name)
    document = fhir_document(resource)
    n = 200
    return {
        "lines": len(record.detail["lines"]),
        "construct_and_write": _time(lambda: fhir_json(resources.claim_response(record, parties.patient_name)), n)
        * 1000,
        "validate_model": _time(lambda: ClaimResponse.model_validate(document), n) * 1000,
        "library_model_dump_json": _time(resource.model_dump_json, n) * 1000,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fhir", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200, help="reads of each settlement per kind (default 200)")
    parser.add_argument(
        "--database",
        choices=("sqlite", "postgresql", "both"),
        default="sqlite",
        help=f"postgresql: a scratch database beside {_PG_URL}",
    )
    args = parser.parse_args(argv)
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    for key, value in machine().items():
        print(f"{key}: {value}")
    failed = False
    for kind in kinds:
        result = run(kind, args.rounds)
        reads = result["per_read_ms"]
        print(f"\n{kind}: {result['reads']} reads of each kind (6 settlements of 6-7 lines), in process")
        for name, label in (
            ("rest", "GET /v1/settlements/{id}"),
            ("fhir", "GET /fhir/R4/ClaimResponse/{id}"),
            ("eob", "GET /fhir/R4/ExplanationOfBenefit/{id}"),
        ):
            r = reads[name]
            print(f"  {label:42} median {r['median']:.3f} ms  mean {r['mean']:.3f} ms  p95 {r['p95']:.3f} ms")
        verdict = "within" if result["ratio"] <= TARGET else "OVER"
        print(
            f"  ClaimResponse / REST (medians): {result['ratio']:.2f} ({verdict} the target of {TARGET:.0f}); "
            f"ExplanationOfBenefit / REST: {result['eob_ratio']:.2f}"
        )
        b = result["build_ms"]
        print(
            f"  one ClaimResponse of {b['lines']:.0f} lines, out of the request: built (model_construct) and written "
            f"{b['construct_and_write']:.3f} ms; validating it with the R4B model {b['validate_model']:.3f} ms; "
            f"the library's model_dump_json {b['library_model_dump_json']:.3f} ms"
        )
        failed = failed or result["ratio"] > TARGET
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
