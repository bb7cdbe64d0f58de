"""A real FHIR client library (fhirpy) against the running service (uvicorn on a free port, in a
thread of this process), on both databases: it reads the CapabilityStatement, submits v2's bill 3
as a Claim with three insurances (the county scheme and its two tiers) and gets scenario E's
payments, submits the same bill again under the Zhenjiang UEBMI (E's fourth payer), then searches
the bill's ExplanationOfBenefits and finds them in payer order with E's figures."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
import uvicorn
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import ResourceNotFound

from app.main import app
from bench.common import free_port
from tests.support.api import expected_v2, load_v2_over_http, new_client, v2_bill
from tests.support.fhir import claim_document


@pytest.fixture
def server(db_url: str) -> Iterator[str]:
    """The application served by uvicorn on 127.0.0.1 (a free port) while the test runs."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not running.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        running.should_exit = True
        thread.join(timeout=20)


def payments(resources: list[Any]) -> list[Decimal]:
    return [Decimal(str(r["payment"]["amount"]["value"])) for r in resources]


def test_a_fhir_client_settles_bill_3_and_reads_it_back(server: str, db_url: str) -> None:
    want = expected_v2()["E_one_stop_bill_3"]["settlements"]
    with httpx.Client(base_url=server, timeout=30) as rest:
        load_v2_over_http(rest)  # type: ignore[arg-type]
        token = new_client(rest, {"name": "Cancer hospital", "role": "hospital", "hospital_code": "H510107001"})  # type: ignore[arg-type]
    fhir = SyncFHIRClient(f"{server}/fhir/R4", authorization=token["Authorization"])

    statement = fhir.execute("metadata", method="get")
    assert (statement["resourceType"], statement["fhirVersion"]) == ("CapabilityStatement", "4.0.1")
    kinds = {r["type"]: {i["code"] for i in r["interaction"]} for r in statement["rest"][0]["resource"]}
    assert kinds["ExplanationOfBenefit"] == {"read", "search-type"}

    bill = v2_bill("bill-3.json")
    tiers = [s["scheme_code"] for s in want[:3]]
    answer = fhir.execute("Claim/$submit", method="post", data=claim_document(bill, tiers))
    assert (answer["resourceType"], answer["type"]) == ("Bundle", "collection")
    responses = [e["resource"] for e in answer["entry"]]
    assert [r["insurance"][0]["sequence"] for r in responses] == [1, 2, 3]
    assert [r["insurer"]["identifier"]["value"] for r in responses] == tiers
    assert payments(responses) == [Decimal(s["fund_payment"]) for s in want[:3]]

    # The same bill again, under the fourth payer: it pays what the first three left.
    fourth = SyncFHIRClient(
        f"{server}/fhir/R4", authorization=token["Authorization"], extra_headers={"Idempotency-Key": "bill-3-uebmi"}
    )
    answer = fourth.execute("Claim/$submit", method="post", data=claim_document(bill, [want[3]["scheme_code"]]))
    (last,) = [e["resource"] for e in answer["entry"]]
    assert (last["insurance"][0]["sequence"], payments([last])) == (4, [Decimal(want[3]["fund_payment"])])

    claim_ref = last["request"]["reference"]
    found = fhir.resources("ExplanationOfBenefit").search(claim=claim_ref).fetch()
    assert [e["precedence"] for e in found] == [s["sequence"] for s in want]
    assert [e["insurer"]["identifier"]["value"] for e in found] == [s["scheme_code"] for s in want]
    assert payments(found) == [Decimal(s["fund_payment"]) for s in want]
    totals = [
        {t["category"]["coding"][0]["code"]: Decimal(str(t["amount"]["value"])) for t in e["total"]} for e in found
    ]
    assert [t["patient-responsibility"] for t in totals] == [Decimal(s["patient_responsibility"]) for s in want]

    responses = fhir.resources("ClaimResponse").search(request=claim_ref).fetch()
    assert [r["id"] for r in responses] == [e["claimResponse"]["reference"].split("/")[1] for e in found]
    claim = fhir.get("Claim", claim_ref.split("/")[1])
    assert [i["sequence"] for i in claim["insurance"]] == [1, 2, 3, 4]
    with pytest.raises(ResourceNotFound):
        fhir.get("ClaimResponse", "no-such-settlement")
