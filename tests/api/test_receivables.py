"""A fund's advances and receivables (v3.3) over HTTP: every state change and each refused one,
the idempotent recovery, the request's refusals, the reversal rule; on PostgreSQL, two recoveries
racing for the last yuan and a recovery racing the settlement's reversal."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.errors import DomainError
from app.principal import ADMIN as ADMIN_PRINCIPAL
from app.services import claims, receivables
from app.services.idempotency import Reply
from tests.support.api import ADMIN, bill_1, ledger_state, load_examples_over_http, load_v2_over_http

NRCMS = "NRCMS-511623"
THIRD_PARTY = {"reason": "third_party", "liable": {"kind": "third_party", "name": "A motorcyclist"}}


def problem(r: Any) -> tuple[int, str]:
    return r.status_code, str(r.json()["type"]).rsplit("/", 1)[-1]


def advanced(client: TestClient, bill_no: str, advance: dict[str, Any] = THIRD_PARTY) -> dict[str, Any]:
    """Bill 1 (NRCMS pays 4,815.00) under another number, settled with an advance."""
    bill = {**bill_1(), "bill_no": bill_no}
    bill_id = client.post("/v1/bills", json=bill, headers=ADMIN).json()["bill_id"]
    r = client.post(f"/v1/bills/{bill_id}/settlements", json={"scheme_code": NRCMS, "advance": advance}, headers=ADMIN)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def recovery(amount: str, reference: str = "R-1") -> dict[str, str]:
    return {"amount": amount, "received_on": "2026-04-01", "reference": reference}


def test_every_state_change_and_each_refused_one(client: TestClient, db_url: str) -> None:
    load_examples_over_http(client)
    s = advanced(client, "ADV-1")
    assert s["fund_payment"] == "4815.00" and s["payer_type"] == "scheme"
    path = f"/v1/receivables/{s['advance']['receivable_id']}"
    r = client.get(path, headers=ADMIN).json()
    assert (r["amount"], r["outstanding"], r["status"], r["liable"]) == (
        "4815.00",
        "4815.00",
        "open",
        {"kind": "third_party", "code": None, "name": "A motorcyclist"},
    )
    for amount in ("0.00", "4815.01", "-1.00"):
        assert problem(client.post(f"{path}/recoveries", json=recovery(amount), headers=ADMIN)) == (422, "validation")
    assert client.post(f"{path}/write-off", json={"reason": " "}, headers=ADMIN).status_code == 422
    r = client.post(f"{path}/recoveries", json=recovery("815.00"), headers=ADMIN).json()
    assert (r["recovered"], r["outstanding"], r["status"]) == ("815.00", "4000.00", "partly_recovered")
    # Once something was recovered, the settlement can no longer be reversed.
    reversal = client.post(f"/v1/settlements/{s['settlement_id']}/reversal", headers=ADMIN)
    assert problem(reversal) == (409, "conflict")
    r = client.post(f"{path}/recoveries", json=recovery("4000.00", "R-2"), headers=ADMIN).json()
    assert (r["recovered"], r["outstanding"], r["status"]) == ("4815.00", "0.00", "recovered")
    assert [x["amount"] for x in r["recoveries"]] == ["815.00", "4000.00"]
    assert problem(client.post(f"{path}/recoveries", json=recovery("0.01"), headers=ADMIN)) == (422, "validation")
    assert problem(client.post(f"{path}/write-off", json={"reason": "x"}, headers=ADMIN)) == (409, "conflict")

    # Reversed with nothing recovered: cancelled, and then it takes nothing.
    t = advanced(client, "ADV-2")
    path2 = f"/v1/receivables/{t['advance']['receivable_id']}"
    assert client.post(f"/v1/settlements/{t['settlement_id']}/reversal", headers=ADMIN).status_code == 200
    r = client.get(path2, headers=ADMIN).json()
    assert (r["status"], r["outstanding"], r["recovered"]) == ("cancelled", "0.00", "0.00")
    assert problem(client.post(f"{path2}/recoveries", json=recovery("1.00"), headers=ADMIN)) == (409, "conflict")
    assert problem(client.post(f"{path2}/write-off", json={"reason": "x"}, headers=ADMIN)) == (409, "conflict")

    # Written off: the rest is gone, nothing more is recovered.
    u = advanced(client, "ADV-3")
    path3 = f"/v1/receivables/{u['advance']['receivable_id']}"
    client.post(f"{path3}/recoveries", json=recovery("15.00"), headers=ADMIN)
    r = client.post(f"{path3}/write-off", json={"reason": "insolvent"}, headers=ADMIN).json()
    assert (r["written_off"], r["outstanding"], r["status"], r["write_off_reason"]) == (
        "4800.00",
        "0.00",
        "written_off",
        "insolvent",
    )
    assert problem(client.post(f"{path3}/recoveries", json=recovery("1.00"), headers=ADMIN)) == (409, "conflict")

    listed = client.get("/v1/receivables?status=cancelled", headers=ADMIN).json()
    assert [x["receivable_id"] for x in listed["items"]] == [t["advance"]["receivable_id"]]
    listed = client.get(f"/v1/receivables?scheme_code={NRCMS}&limit=2", headers=ADMIN).json()
    assert [x["settlement_id"] for x in listed["items"]] == [u["settlement_id"], t["settlement_id"]]
    nxt = client.get(f"/v1/receivables?scheme_code={NRCMS}&limit=2&cursor={listed['next_cursor']}", headers=ADMIN)
    assert [x["settlement_id"] for x in nxt.json()["items"]] == [s["settlement_id"]]
    assert client.get("/v1/receivables?scheme_code=UEBMI-321100", headers=ADMIN).json()["items"] == []
    ledger_state(db_url)


def test_a_recovery_is_idempotent_under_its_key(client: TestClient, db_url: str) -> None:
    load_examples_over_http(client)
    s = advanced(client, "ADV-1")
    path = f"/v1/receivables/{s['advance']['receivable_id']}/recoveries"
    key = {**ADMIN, "Idempotency-Key": "rec-1"}
    first = client.post(path, json=recovery("100.00"), headers=key)
    again = client.post(path, json=recovery("100.00"), headers=key)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json() and again.json()["recovered"] == "100.00"
    assert problem(client.post(path, json=recovery("100.01"), headers=key)) == (422, "idempotency-mismatch")
    ledger_state(db_url)


def test_advance_refusals_and_a_dry_run_opens_nothing(client: TestClient, db_url: str) -> None:
    load_v2_over_http(client)
    bill_id = client.post("/v1/bills", json=bill_1(), headers=ADMIN).json()["bill_id"]
    path = f"/v1/bills/{bill_id}/settlements"
    preview = client.post(path, json={"scheme_code": NRCMS, "advance": THIRD_PARTY, "dry_run": True}, headers=ADMIN)
    assert preview.status_code == 200 and preview.json()["advance"]["receivable_id"] is None
    assert client.get("/v1/receivables", headers=ADMIN).json()["items"] == []
    employer = {"code": "91321102MA1N7D4Q8W", "name": "Works"}
    refused = [
        # employer_not_enrolled only under an injury scheme
        {
            "scheme_code": NRCMS,
            "advance": {"reason": "employer_not_enrolled", "liable": {"kind": "employer", **employer}},
        },
        # the liable party's kind follows the reason
        {"scheme_code": NRCMS, "advance": {"reason": "third_party", "liable": {"kind": "employer", **employer}}},
        # a third party's code, when given, is a valid unified social credit code
        {
            "scheme_code": NRCMS,
            "advance": {"reason": "third_party", "liable": {"kind": "third_party", "code": "X1", "name": "A"}},
        },
        # not beside an employer's liability
        {"scheme_code": "UEBMI-321100", "advance": THIRD_PARTY, "employer_liability": {"employer": employer}},
    ]
    for body in refused:
        assert problem(client.post(path, json=body, headers=ADMIN)) == (422, "validation"), body
    assert client.post(path, json={"scheme_code": NRCMS}, headers=ADMIN).status_code == 201
    # No tier advances: serious illness refuses the request's advance.
    r = client.post(path, json={"scheme_code": "SI-511623", "advance": THIRD_PARTY}, headers=ADMIN)
    assert problem(r) == (422, "validation")
    ledger_state(db_url)


def _race(*calls: Callable[[], Reply]) -> list[Reply | DomainError]:
    """Run the calls at the same moment, each in its own thread; their answers or refusals."""
    barrier = threading.Barrier(len(calls))
    results: list[Reply | DomainError] = [DomainError("not run")] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = calls[i]()
        except DomainError as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _recover(receivable_id: str, amount: str, reference: str) -> Callable[[], Reply]:
    from datetime import date
    from decimal import Decimal

    request = receivables.RecoveryRequest(Decimal(amount), date(2026, 4, 1), reference)
    return lambda: receivables.recover(
        principal=ADMIN_PRINCIPAL,
        receivable_id=receivable_id,
        request=request,
        idem=None,
        render=lambda r: Reply(201, {}),
    )


@pytest.mark.parametrize("round_", range(5))
def test_recoveries_racing_for_the_last_yuan_and_a_recovery_racing_the_reversal(pg_url: str, round_: int) -> None:
    from app.main import app

    with TestClient(app) as client:
        load_examples_over_http(client)
        s = advanced(client, "RACE-1")
        receivable_id = s["advance"]["receivable_id"]
        client.post(f"/v1/receivables/{receivable_id}/recoveries", json=recovery("4814.00"), headers=ADMIN)
        # Two recoveries of the last 1.00: exactly one is recorded, the other refused.
        results = _race(_recover(receivable_id, "1.00", "A"), _recover(receivable_id, "1.00", "B"))
        assert sorted(type(x).__name__ for x in results) == ["Reply", "ValidationFailed"]
        r = client.get(f"/v1/receivables/{receivable_id}", headers=ADMIN).json()
        assert (r["recovered"], r["status"], len(r["recoveries"])) == ("4815.00", "recovered", 2)

        # A recovery racing the reversal: a recovered receivable on an active settlement, or a
        # cancelled one with nothing recovered on a reversed settlement; never both.
        t = advanced(client, "RACE-2")
        rid = t["advance"]["receivable_id"]
        reverse = lambda: claims.reverse(  # noqa: E731
            principal=ADMIN_PRINCIPAL, settlement_id=t["settlement_id"], idem=None, render=lambda r: Reply(200, {})
        )
        results = _race(_recover(rid, "10.00", "C"), reverse)
        got = client.get(f"/v1/receivables/{rid}", headers=ADMIN).json()
        status = client.get(f"/v1/settlements/{t['settlement_id']}", headers=ADMIN).json()["status"]
        if isinstance(results[0], Reply):
            assert isinstance(results[1], DomainError) and results[1].status == 409
            assert (got["status"], got["recovered"], status) == ("partly_recovered", "10.00", "settled")
        else:
            assert results[0].status == 409 and isinstance(results[1], Reply)
            assert (got["status"], got["recovered"], status) == ("cancelled", "0.00", "reversed")
    ledger_state(pg_url)
