"""Every operation x every role x own and foreign objects, with the exact status code.

The operations come from the app's OpenAPI document and from the FHIR interface's routes (it has
no OpenAPI document: docs/decisions/0014): an operation without a rule here fails the test, so a
new endpoint cannot ship without its access rule.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Mount

from app.fhir.routes import router as fhir_router
from app.main import app
from tests.support.api import ADMIN, bill_1, load_examples_over_http, register_hospitals, sample_hospitals
from tests.support.fhir import claim_document
from tests.support.figures import report

OWN_HOSPITAL, FOREIGN_HOSPITAL = "H511623001", "H320000002"
OWN_SCHEME, FOREIGN_SCHEME = "NRCMS-511623", "UEBMI-321100"
FOREIGN_REGISTERED = {
    "code": FOREIGN_HOSPITAL,
    "name": "Zhenjiang First Hospital",
    "level": 3,
    "region": "321102",
    "designated_from": "2020-01-01",
}
#: A patient insured only by the foreign scheme (valid resident ID).
STRANGER_ID = "11010519491231002X"


@dataclass(frozen=True)
class Req:
    method: str
    url: str
    json: Any = None


@dataclass
class Ctx:
    client: TestClient
    tokens: dict[str, str]
    own_bill: str
    foreign_bill: str
    own_settlement: str
    foreign_settlement: str
    throwaway_client: str
    counter: itertools.count

    def settled_bill(self, own: bool) -> str:
        """The bill of the own or the foreign settlement."""
        settlement = self.own_settlement if own else self.foreign_settlement
        return str(self.client.get(f"/v1/settlements/{settlement}", headers=ADMIN).json()["bill_id"])

    def fresh_settlement(self, own: bool) -> str:
        """A new bill settled by the admin, for a reversal cell."""
        n = next(self.counter)
        body = own_bill_body(f"REV-{n}") if own else foreign_bill_body(f"REV-{n}")
        bill_id = post(self.client, "/v1/bills", body)["bill_id"]
        scheme = OWN_SCHEME if own else FOREIGN_SCHEME
        return str(post(self.client, f"/v1/bills/{bill_id}/settlements", {"scheme_code": scheme})["settlement_id"])

    def fresh_receivable(self, own: bool) -> str:
        """A new bill settled by the admin with a fund's advance (v3.3): its receivable."""
        n = next(self.counter)
        body = own_bill_body(f"ADV-{n}") if own else foreign_bill_body(f"ADV-{n}")
        bill_id = post(self.client, "/v1/bills", body)["bill_id"]
        advance = {"reason": "third_party", "liable": {"kind": "third_party", "name": "A motorcyclist"}}
        settled = post(
            self.client, f"/v1/bills/{bill_id}/settlements", {"scheme_code": scheme(own), "advance": advance}
        )
        return str(settled["advance"]["receivable_id"])


def post(client: TestClient, url: str, body: Any) -> dict[str, Any]:
    r = client.post(url, json=body, headers=ADMIN)
    assert r.status_code in (200, 201), r.text
    out: dict[str, Any] = r.json()
    return out


def own_bill_body(bill_no: str = "OWN-1") -> dict[str, Any]:
    b = bill_1()
    b["bill_no"] = bill_no
    return b


def foreign_bill_body(bill_no: str = "FOREIGN-1") -> dict[str, Any]:
    b = bill_1()
    b["bill_no"] = bill_no
    b["hospital"] = {"code": FOREIGN_HOSPITAL, "name": "Zhenjiang First Hospital", "level": 3, "region": "321102"}
    b["patient"] = {"id_number": STRANGER_ID, "name": "Li Na"}
    return b


Builder = Callable[[Ctx, bool], Req]
# expected (own, foreign) per role; None for the public operations
Expect = dict[str, tuple[int, int]]


@dataclass(frozen=True)
class Rule:
    build: Builder
    expect: Expect | None  # None: public, 200 for everyone


def scheme(own: bool) -> str:
    return OWN_SCHEME if own else FOREIGN_SCHEME


def hospital(own: bool) -> str:
    return OWN_HOSPITAL if own else FOREIGN_HOSPITAL


def registered(code: str) -> dict[str, Any]:
    """The registry entry of the own (sample) or the foreign hospital."""
    return next(h for h in [*sample_hospitals(), FOREIGN_REGISTERED] if h["code"] == code)


ADMIN_ONLY_READ = {"admin": (200, 200), "hospital": (403, 403), "office": (403, 403)}
#: Every authenticated role reads; a list answers what the caller may read (possibly nothing).
EVERYONE_READS = {"admin": (200, 200), "hospital": (200, 200), "office": (200, 200)}
SCHEME_READ = {"admin": (200, 200), "hospital": (403, 403), "office": (200, 404)}
BILL_READ = {"admin": (200, 200), "hospital": (200, 404), "office": (200, 404)}

RULES: dict[str, Rule] = {
    "listSchemes": Rule(lambda c, o: Req("GET", "/v1/schemes"), ADMIN_ONLY_READ),
    "putScheme": Rule(
        lambda c, o: Req(
            "PUT", f"/v1/schemes/{scheme(o)}", c.client.get(f"/v1/schemes/{scheme(o)}", headers=ADMIN).json()
        ),
        ADMIN_ONLY_READ,
    ),
    "getScheme": Rule(lambda c, o: Req("GET", f"/v1/schemes/{scheme(o)}"), SCHEME_READ),
    "putCatalogVersion": Rule(
        lambda c, o: Req(
            "PUT", f"/v1/schemes/{scheme(o)}/catalogs/matrix", {"effective_from": "2031-01-01", "entries": []}
        ),
        ADMIN_ONLY_READ,
    ),
    "getCatalogVersion": Rule(lambda c, o: Req("GET", f"/v1/schemes/{scheme(o)}/catalogs/2026"), SCHEME_READ),
    "putPolicy": Rule(
        lambda c, o: Req(
            "PUT",
            f"/v1/schemes/{scheme(o)}/policies/2031",
            {
                k: v
                for k, v in c.client.get(f"/v1/schemes/{scheme(o)}/policies/2026", headers=ADMIN).json().items()
                if k not in ("scheme_code", "year") and v is not None
            },
        ),
        ADMIN_ONLY_READ,
    ),
    "getPolicy": Rule(lambda c, o: Req("GET", f"/v1/schemes/{scheme(o)}/policies/2026"), SCHEME_READ),
    "putMember": Rule(
        lambda c, o: Req(
            "PUT",
            f"/v1/schemes/{scheme(o)}/members/M-{scheme(o)}",
            {"id_number": "440301199001011234", "name": "Zhao Lei", "coverage": [{"from": "2026-01-01", "to": None}]},
        ),
        SCHEME_READ,
    ),
    "getMember": Rule(lambda c, o: Req("GET", f"/v1/schemes/{scheme(o)}/members/M-{scheme(o)}"), SCHEME_READ),
    "submitBill": Rule(
        lambda c, o: Req("POST", "/v1/bills", own_bill_body() if o else foreign_bill_body()),
        {"admin": (200, 200), "hospital": (200, 403), "office": (403, 403)},
    ),
    "getBill": Rule(lambda c, o: Req("GET", f"/v1/bills/{c.own_bill if o else c.foreign_bill}"), BILL_READ),
    "getSplit": Rule(lambda c, o: Req("GET", f"/v1/bills/{c.own_bill if o else c.foreign_bill}/split"), BILL_READ),
    "createSettlement": Rule(
        lambda c, o: Req(
            "POST",
            f"/v1/bills/{c.own_bill if o else c.foreign_bill}/settlements",
            {"scheme_code": scheme(o), "dry_run": True},
        ),
        {"admin": (200, 200), "hospital": (200, 404), "office": (200, 404)},
    ),
    "getSettlement": Rule(
        lambda c, o: Req("GET", f"/v1/settlements/{c.own_settlement if o else c.foreign_settlement}"),
        {"admin": (200, 200), "hospital": (200, 404), "office": (200, 404)},
    ),
    "reverseSettlement": Rule(
        lambda c, o: Req("POST", f"/v1/settlements/{c.fresh_settlement(o)}/reversal"),
        {"admin": (200, 200), "hospital": (200, 404), "office": (200, 404)},
    ),
    "submitClaim": Rule(
        lambda c, o: Req(
            "POST",
            "/v1/claims",
            {"bill": own_bill_body() if o else foreign_bill_body(), "schemes": [scheme(o)], "dry_run": True},
        ),
        {"admin": (200, 200), "hospital": (200, 403), "office": (403, 403)},
    ),
    "createClient": Rule(
        lambda c, o: Req(
            "POST",
            "/v1/clients",
            {"name": "another", "role": "hospital", "hospital_code": OWN_HOSPITAL if o else FOREIGN_HOSPITAL},
        ),
        {"admin": (201, 201), "hospital": (403, 403), "office": (403, 403)},
    ),
    "createUser": Rule(
        lambda c, o: Req(
            "POST",
            "/v1/users",
            {
                "username": f"u-{uuid.uuid4().hex[:12]}",
                "name": "A person",
                "role": "hospital",
                "hospital_code": "H1",
                "password": "a long enough password",
            },
        ),
        {"admin": (201, 201), "hospital": (403, 403), "office": (403, 403)},
    ),
    "listClients": Rule(lambda c, o: Req("GET", "/v1/clients"), ADMIN_ONLY_READ),
    "revokeClient": Rule(lambda c, o: Req("DELETE", f"/v1/clients/{c.throwaway_client}"), ADMIN_ONLY_READ),
    "queryAudit": Rule(lambda c, o: Req("GET", "/v1/audit"), ADMIN_ONLY_READ),
    # Clearing: a scheme office gets its own scheme's rows (there is no foreign object to refuse).
    "getClearing": Rule(
        lambda c, o: Req("GET", "/v1/clearing?period=2026-03"),
        {"admin": (200, 200), "hospital": (403, 403), "office": (200, 200)},
    ),
    "getReconciliation": Rule(
        lambda c, o: Req(
            "GET", f"/v1/reconciliation?hospital_code={OWN_HOSPITAL if o else FOREIGN_HOSPITAL}&date=2026-03-10"
        ),
        {"admin": (200, 200), "hospital": (200, 404), "office": (403, 403)},
    ),
    "putHospital": Rule(
        lambda c, o: Req("PUT", f"/v1/hospitals/{hospital(o)}", registered(hospital(o))), ADMIN_ONLY_READ
    ),
    "getHospital": Rule(lambda c, o: Req("GET", f"/v1/hospitals/{hospital(o)}"), EVERYONE_READS),
    "listHospitals": Rule(lambda c, o: Req("GET", "/v1/hospitals?region=510000"), EVERYONE_READS),
    "listBills": Rule(lambda c, o: Req("GET", f"/v1/bills?hospital_code={hospital(o)}"), EVERYONE_READS),
    "listSettlements": Rule(lambda c, o: Req("GET", f"/v1/settlements?scheme_code={scheme(o)}"), EVERYONE_READS),
    # Receivables (v3.3): the admin and the office of the receivable's scheme; no hospital.
    "listReceivables": Rule(
        lambda c, o: Req("GET", f"/v1/receivables?scheme_code={scheme(o)}"),
        {"admin": (200, 200), "hospital": (403, 403), "office": (200, 200)},
    ),
    "getReceivable": Rule(lambda c, o: Req("GET", f"/v1/receivables/{c.fresh_receivable(o)}"), SCHEME_READ),
    "recordRecovery": Rule(
        lambda c, o: Req(
            "POST",
            f"/v1/receivables/{c.fresh_receivable(o)}/recoveries",
            {"amount": "0.01", "received_on": "2026-04-01", "reference": "MATRIX-1"},
        ),
        {"admin": (201, 201), "hospital": (403, 403), "office": (201, 404)},
    ),
    "writeOffReceivable": Rule(
        lambda c, o: Req("POST", f"/v1/receivables/{c.fresh_receivable(o)}/write-off", {"reason": "gone"}),
        SCHEME_READ,
    ),
    # A hospital checks only its own figures (v3.4).
    "checkReconciliation": Rule(
        lambda c, o: Req(
            "POST",
            "/v1/reconciliation/checks",
            {
                "hospital_code": hospital(o),
                "from": "2026-03-01",
                "to": "2026-03-31",
                "totals": {"settlements": 0, "reversals": 0, "medical_total": "0.00", "fund_payment": "0.00"},
            },
        ),
        {"admin": (200, 200), "hospital": (200, 404), "office": (403, 403)},
    ),
    # The national platform's interface: a hospital (for its own fixmedins_code; another's is a
    # refusal in the answer, tested in test_nhsa_scopes) or an admin for any hospital.
    "nhsaCallService": Rule(
        lambda c, o: Req("POST", "/fsi/api/rsfComIfsService/callService", nhsa_statement(hospital(o))),
        {"admin": (200, 200), "hospital": (200, 200), "office": (403, 403)},
    ),
    "putNhsaRoute": Rule(lambda c, o: Req("PUT", f"/v1/nhsa/routes/{route(o)}", ROUTES[o]), ADMIN_ONLY_READ),
    "getNhsaRoute": Rule(lambda c, o: Req("GET", f"/v1/nhsa/routes/{route(o)}"), EVERYONE_READS),
    # The FHIR interface (app/fhir): the REST API's rules for the same reads and writes.
    "fhirCapabilities": Rule(lambda c, o: Req("GET", "/fhir/R4/metadata"), None),
    "fhirReadCodeSystem": Rule(lambda c, o: Req("GET", "/fhir/R4/CodeSystem/adjudication"), None),
    "fhirReadClaimResponse": Rule(
        lambda c, o: Req("GET", f"/fhir/R4/ClaimResponse/{c.own_settlement if o else c.foreign_settlement}"),
        {"admin": (200, 200), "hospital": (200, 404), "office": (200, 404)},
    ),
    "fhirReadExplanationOfBenefit": Rule(
        lambda c, o: Req("GET", f"/fhir/R4/ExplanationOfBenefit/{c.own_settlement if o else c.foreign_settlement}"),
        {"admin": (200, 200), "hospital": (200, 404), "office": (200, 404)},
    ),
    # A search answers what the caller may read (possibly nothing), as a list does.
    "fhirSearchClaimResponse": Rule(
        lambda c, o: Req("GET", f"/fhir/R4/ClaimResponse?request=Claim/{c.settled_bill(o)}"), EVERYONE_READS
    ),
    "fhirSearchExplanationOfBenefit": Rule(
        lambda c, o: Req("GET", f"/fhir/R4/ExplanationOfBenefit?claim=Claim/{c.settled_bill(o)}"), EVERYONE_READS
    ),
    "fhirReadClaim": Rule(lambda c, o: Req("GET", f"/fhir/R4/Claim/{c.settled_bill(o)}"), BILL_READ),
    "fhirSubmitClaim": Rule(
        lambda c, o: Req(
            "POST",
            "/fhir/R4/Claim/$submit",
            claim_document(own_bill_body() if o else foreign_bill_body(), [scheme(o)], use="predetermination"),
        ),
        {"admin": (200, 200), "hospital": (200, 403), "office": (403, 403)},
    ),
    "healthz": Rule(lambda c, o: Req("GET", "/healthz"), None),
    "readyz": Rule(lambda c, o: Req("GET", "/readyz"), None),
    "metrics": Rule(lambda c, o: Req("GET", "/metrics"), None),
}


#: A route of the own and of the foreign scheme (region/insurance type, and its body).
ROUTES: dict[bool, dict[str, Any]] = {
    True: {"schemes": [{"scheme_code": OWN_SCHEME}]},
    False: {"schemes": [{"scheme_code": FOREIGN_SCHEME}]},
}


def route(own: bool) -> str:
    return "511623/390" if own else "321100/310"


def nhsa_statement(hospital_code: str, msgid: str | None = None) -> dict[str, Any]:
    """A totals reconciliation (3201) of nothing, for ``hospital_code``: it reads, and answers."""
    return {
        "infno": "3201",
        "msgid": msgid or f"M{uuid.uuid4().hex[:20]}",
        "fixmedins_code": hospital_code,
        "input": {
            "data": {
                "insutype": "390",
                "setl_optins": "511623",
                "stmt_begndate": "2026-03-01",
                "stmt_enddate": "2026-03-31",
                "medfee_sumamt": 0,
                "fund_pay_sumamt": 0,
                "acct_pay": 0,
                "fixmedins_setl_cnt": 0,
            }
        },
    }


def client_db(client: TestClient) -> str:
    from app.db.session import get_engine

    return get_engine().dialect.name


def operations() -> list[str]:
    rest = [op["operationId"] for item in app.openapi()["paths"].values() for op in item.values()]
    return [*rest, *fhir_operations()]


def fhir_operations() -> list[str]:
    """The FHIR application's operations (mounted at /fhir/R4, and in no OpenAPI document)."""
    assert [r for r in app.routes if isinstance(r, Mount) and r.name == "fhir"], "the FHIR interface is mounted"
    return [r.operation_id for r in fhir_router.routes if isinstance(r, APIRoute) and r.operation_id]


def make_ctx(client: TestClient) -> Ctx:
    load_examples_over_http(client)
    register_hospitals(client, [FOREIGN_REGISTERED])
    stranger = {
        "id_number": STRANGER_ID,
        "name": "Li Na",
        "coverage": [{"from": "2026-01-01", "to": None}],
        "offsite_registrations": [],
    }
    assert (
        client.put(f"/v1/schemes/{FOREIGN_SCHEME}/members/ZJ-STRANGER", json=stranger, headers=ADMIN).status_code == 201
    )
    for code in (OWN_SCHEME, FOREIGN_SCHEME):
        catalog = {"effective_from": "2031-01-01", "entries": []}
        assert client.put(f"/v1/schemes/{code}/catalogs/matrix", json=catalog, headers=ADMIN).status_code == 201
        policy = client.get(f"/v1/schemes/{code}/policies/2026", headers=ADMIN).json()
        body = {k: v for k, v in policy.items() if k not in ("scheme_code", "year") and v is not None}
        assert client.put(f"/v1/schemes/{code}/policies/2031", json=body, headers=ADMIN).status_code == 201
        member = {
            "id_number": "440301199001011234",
            "name": "Zhao Lei",
            "coverage": [{"from": "2026-01-01", "to": None}],
        }
        assert client.put(f"/v1/schemes/{code}/members/M-{code}", json=member, headers=ADMIN).status_code == 201
    for own in (True, False):
        r = client.put(f"/v1/nhsa/routes/{route(own)}", json=ROUTES[own], headers=ADMIN)
        assert r.status_code == 201, r.text
    own_bill = post(client, "/v1/bills", own_bill_body())["bill_id"]
    own2 = post(client, "/v1/bills", own_bill_body("OWN-2"))["bill_id"]
    own_settlement = post(client, f"/v1/bills/{own2}/settlements", {"scheme_code": OWN_SCHEME})["settlement_id"]
    foreign_bill = post(client, "/v1/bills", foreign_bill_body())["bill_id"]
    foreign2 = post(client, "/v1/bills", foreign_bill_body("FOREIGN-2"))["bill_id"]
    foreign_settlement = post(client, f"/v1/bills/{foreign2}/settlements", {"scheme_code": FOREIGN_SCHEME})[
        "settlement_id"
    ]
    tokens = {}
    for role, body in {
        "hospital": {"name": "Linshui hospital", "role": "hospital", "hospital_code": OWN_HOSPITAL},
        "office": {"name": "Linshui NRCMS office", "role": "scheme_office", "scheme_code": OWN_SCHEME},
        "revoked": {"name": "old", "role": "admin"},
        "throwaway": {"name": "throwaway", "role": "hospital", "hospital_code": FOREIGN_HOSPITAL},
    }.items():
        created = post(client, "/v1/clients", body)
        tokens[role] = created["token"]
        if role == "throwaway":
            throwaway = created["client_id"]
        if role == "revoked":
            assert client.delete(f"/v1/clients/{created['client_id']}", headers=ADMIN).status_code == 200
    return Ctx(client, tokens, own_bill, foreign_bill, own_settlement, foreign_settlement, throwaway, itertools.count())


def test_every_operation_has_a_rule() -> None:
    missing = set(operations()) - set(RULES)
    assert not missing, f"operations without an access rule: {sorted(missing)}"
    assert not set(RULES) - set(operations()), "rules for operations that no longer exist"


def test_access_matrix(client: TestClient) -> None:
    ctx = make_ctx(client)
    cells = 0
    failures = []
    for operation in operations():
        rule = RULES[operation]
        cases: list[tuple[str, bool, int]] = []
        if rule.expect is None:
            cases = [(role, own, 200) for role in ("admin", "hospital", "office", "none", "revoked") for own in (True,)]
        else:
            for role, (own_status, foreign_status) in rule.expect.items():
                cases += [(role, True, own_status), (role, False, foreign_status)]
            cases += [("none", True, 401), ("revoked", True, 401)]
        for role, own, expected in cases:
            req = rule.build(ctx, own)
            headers = (
                {}
                if role == "none"
                else (ADMIN if role == "admin" else {"Authorization": f"Bearer {ctx.tokens[role]}"})
            )
            r = client.request(req.method, req.url, json=req.json, headers=headers)
            cells += 1
            if r.status_code != expected:
                where = "own" if own else "foreign"
                failures.append(f"{operation} as {role} on {where}: {r.status_code} != {expected} {r.text[:200]}")
    report(f"access matrix [{client_db(client)}]: {cells} cells checked over {len(operations())} operations")
    assert not failures, "\n".join(failures)
    public = sum(rule.expect is None for rule in RULES.values())
    assert cells >= 8 * (len(operations()) - public)


def test_nhsa_scopes(client: TestClient) -> None:
    """The interface answers a hospital for its own ``fixmedins_code`` only (another's is refused
    in the answer, ``[forbidden]``), an admin for any hospital; a scheme office is 403 and no token
    401, before the body is read."""
    ctx = make_ctx(client)
    url = "/fsi/api/rsfComIfsService/callService"
    hospital_token = {"Authorization": f"Bearer {ctx.tokens['hospital']}"}
    cases = [
        (hospital_token, OWN_HOSPITAL, 0, ""),
        (hospital_token, FOREIGN_HOSPITAL, -1, "[forbidden] "),
        (ADMIN, OWN_HOSPITAL, 0, ""),
        (ADMIN, FOREIGN_HOSPITAL, 0, ""),
    ]
    for headers, code, infcode, err in cases:
        r = client.post(url, json=nhsa_statement(code), headers=headers)
        assert r.status_code == 200, r.text
        answer = r.json()
        assert answer["infcode"] == infcode and answer["err_msg"].startswith(err), answer
        if infcode == 0:
            assert answer["output"]["data"]["stmt_rslt"] == "0"
    office = {"Authorization": f"Bearer {ctx.tokens['office']}"}
    assert client.post(url, json=nhsa_statement(OWN_HOSPITAL), headers=office).status_code == 403
    assert client.post(url, json=nhsa_statement(OWN_HOSPITAL)).status_code == 401
    audit = client.get("/v1/audit", params={"operation": "nhsa:3201"}, headers=ADMIN).json()["items"]
    assert sorted((a["outcome"], a["status_code"]) for a in audit) == [("ok", 200)] * 3 + [("refused", 403)]


@pytest.fixture
def client(db_url: str):
    with TestClient(app) as c:
        yield c
