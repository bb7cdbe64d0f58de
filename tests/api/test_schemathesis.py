"""Schemathesis as a user runs it, in process: every check, every phase (examples, coverage,
fuzzing and stateful), against the real ASGI app with the sample data and bill 1 loaded, on SQLite
and PostgreSQL.  The configuration (``schemathesis.toml``, the one ``schemathesis run`` reads) lets the
"schema-valid data is accepted" check expect a 422 for the operations whose rules OpenAPI cannot
say, with the reasons beside each.

Zero failures and no errors (a server exception is one), every operation tested, every phase run.
A bill settled with a fund's advance gives the receivables' operations a receivable to reach (by
the links from the list), and each of v3's operations must be carried out at least once (a 2xx),
not only refused; the figure lines give their statuses.
Which linked operations the stateful phase reaches depends on what its random bodies created before
(a bill needs a valid ID number and amounts that add up): the figure line reports it, and
tests/api/test_openapi.py checks that every operation taking an id is the target of a link.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict

import pytest
import schemathesis
from fastapi.testclient import TestClient
from schemathesis.config import SchemathesisConfig
from schemathesis.core.result import Ok
from schemathesis.engine import events, from_schema
from schemathesis.engine.statistic import Statistic

from app.main import app
from tests.support.api import ADMIN, bill_1, load_examples_over_http
from tests.support.figures import report
from tests.support.paths import REPO

pytestmark = pytest.mark.slow

#: Cases per operation and phase; the run (both databases) stays well under 3 minutes on 2 cores.
MAX_EXAMPLES = int(os.environ.get("SETTLE_SCHEMATHESIS_EXAMPLES", "15"))
#: Scenarios (chains of linked calls) of the stateful phase.
STATEFUL_EXAMPLES = int(os.environ.get("SETTLE_SCHEMATHESIS_SCENARIOS", "60"))


def _config() -> SchemathesisConfig:
    config = SchemathesisConfig.from_path(REPO / "schemathesis.toml")
    config.update(seed=20261130, max_failures=None)  # reproducible in CI
    project = config.projects.default
    project.generation.update(max_examples=MAX_EXAMPLES)
    project.phases.stateful.generation.update(max_examples=STATEFUL_EXAMPLES)
    return config


def _failure_lines(stat: Statistic) -> list[str]:
    return [
        f"{label}: {failure.title} ({failure.code}) -- {group.code_sample}"
        for label, grouped in stat.failures.items()
        for group in grouped.values()
        for failure in group.failures
    ]


#: v3's operations (api.md "v3 additions"), each answered with a success at least once.
V3_OPERATIONS = (
    "GET /v1/receivables",
    "GET /v1/receivables/{receivable_id}",
    "POST /v1/receivables/{receivable_id}/recoveries",
    "POST /v1/receivables/{receivable_id}/write-off",
    "POST /v1/reconciliation/checks",
)


def test_schemathesis_every_check_and_stateful(db_url: str) -> None:
    with TestClient(app) as client:
        load_examples_over_http(client)
        assert client.post("/v1/bills", json=bill_1(), headers=ADMIN).status_code == 201
        # Bills settled with a fund's advance: receivables for the receivables' operations (two, so
        # that one is still open when the list's first is written off).
        advance = {"reason": "third_party", "liable": {"kind": "third_party", "name": "A motorcyclist"}}
        for n, scheme_code in enumerate(("NRCMS-511623", "UEBMI-321100")):
            bill = {**bill_1(), "bill_no": f"ST-ADV-{n}"}
            bill_id = client.post("/v1/bills", json=bill, headers=ADMIN).json()["bill_id"]
            request = {"scheme_code": scheme_code, "advance": advance}
            assert client.post(f"/v1/bills/{bill_id}/settlements", json=request, headers=ADMIN).status_code == 201
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=_config())
    loaded = list(schema.get_all_operations())
    assert all(isinstance(result, Ok) for result in loaded), loaded
    operations = {result.ok().label for result in loaded if isinstance(result, Ok)}

    stat = Statistic()
    errors: list[str] = []
    phases: dict[str, str] = {}
    stateful_reached: set[str] = set()
    links_total = 0
    answered: defaultdict[str, Counter[int]] = defaultdict(Counter)
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            stat.on_scenario_finished(event.recorder)
            for case_id, node in event.recorder.cases.items():
                interaction = event.recorder.interactions.get(case_id)
                if interaction is not None and interaction.response is not None:
                    answered[node.value.operation.label][interaction.response.status_code] += 1
            if event.phase.value == "stateful":
                stateful_reached |= {case.value.operation.label for case in event.recorder.cases.values()}
        elif isinstance(event, events.PhaseStarted) and event.payload is not None:
            links_total = event.payload.transitions_total
        elif isinstance(event, events.PhaseFinished):
            phases[event.phase.name.value] = event.status.value
        elif isinstance(event, events.NonFatalError | events.FatalError):
            errors.append(str(getattr(event, "info", getattr(event, "exception", event))))

    backend = "postgresql" if db_url.startswith("postgresql") else "sqlite"
    report(
        f"schemathesis[{backend}]: operations={len(stat.tested_operations)}/{len(operations)} "
        f"cases={stat.total_cases} failures={stat.total_failures} errored={stat.errored_cases} links={links_total} "
        f"stateful_operations={len(stateful_reached)} max_examples={MAX_EXAMPLES}"
    )
    for label in V3_OPERATIONS:
        report(f"schemathesis[{backend}] {label}: {dict(sorted(answered[label].items()))}")
    assert not errors, errors
    assert stat.total_failures == 0, "\n".join(_failure_lines(stat))
    assert stat.errored_cases == 0 and not stat.errored_operations, stat.errored_operations
    assert stat.tested_operations == operations
    # Not only refusals: each of v3's operations was carried out on a real receivable or hospital.
    assert [label for label in V3_OPERATIONS if not any(code < 300 for code in answered[label])] == []
    assert {p: phases.get(p) for p in ("examples", "coverage", "fuzzing", "stateful")} == dict.fromkeys(
        ("examples", "coverage", "fuzzing", "stateful"), "success"
    ), phases
