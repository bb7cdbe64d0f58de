"""The published contract: ``openapi/openapi.json`` matches the app, and every operation is documented."""

from __future__ import annotations

import json

from app.main import app
from tests.support.paths import REPO

REQUIRED_OPERATIONS = {
    ("put", "/v1/schemes/{scheme_code}"),
    ("get", "/v1/schemes/{scheme_code}"),
    ("put", "/v1/schemes/{scheme_code}/catalogs/{version}"),
    ("get", "/v1/schemes/{scheme_code}/catalogs/{version}"),
    ("put", "/v1/schemes/{scheme_code}/policies/{year}"),
    ("get", "/v1/schemes/{scheme_code}/policies/{year}"),
    ("put", "/v1/schemes/{scheme_code}/members/{member_no}"),
    ("post", "/v1/bills"),
    ("get", "/v1/bills/{bill_id}"),
    ("get", "/v1/bills/{bill_id}/split"),
    ("post", "/v1/bills/{bill_id}/settlements"),
    ("get", "/v1/settlements/{settlement_id}"),
    ("post", "/v1/settlements/{settlement_id}/reversal"),
    ("post", "/v1/claims"),
    ("put", "/v1/hospitals/{hospital_code}"),
    ("get", "/v1/hospitals/{hospital_code}"),
    ("get", "/v1/hospitals"),
    ("get", "/v1/bills"),
    ("get", "/v1/settlements"),
    ("get", "/healthz"),
    ("get", "/readyz"),
}


def test_published_openapi_matches_the_app() -> None:
    published = json.loads((REPO / "openapi" / "openapi.json").read_text())
    assert published == app.openapi(), "openapi/openapi.json drifted from the app: run `make openapi`"


def test_every_operation_is_documented() -> None:
    spec = app.openapi()
    seen = set()
    ids = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            seen.add((method, path))
            ids.append(op["operationId"])
            assert op.get("summary"), (method, path)
            responses = op["responses"]
            assert any(code.startswith("2") for code in responses), (method, path)
            for code, response in responses.items():
                if code.startswith("2") and path != "/metrics":
                    assert "application/json" in response.get("content", {}), (method, path, code)
                if code[0] in "45":
                    assert "application/problem+json" in response["content"], (method, path, code)
            if path.startswith("/v1"):
                assert {"401", "403"} <= set(responses), (method, path)
    assert seen >= REQUIRED_OPERATIONS
    assert len(ids) == len(set(ids)), "operationIds must be unique"


def test_the_document_is_valid_openapi() -> None:
    from openapi_spec_validator import validate

    validate(json.loads((REPO / "openapi" / "openapi.json").read_text()))


def test_every_operation_that_takes_an_id_is_the_target_of_a_link() -> None:
    """So schemathesis's stateful phase (and a reader) can get from where an id is made to where it is used."""
    spec = app.openapi()
    ids = {op["operationId"]: (method, path) for path, item in spec["paths"].items() for method, op in item.items()}
    targets: set[str] = set()
    for path, item in spec["paths"].items():
        for method, op in item.items():
            for code, response in op["responses"].items():
                for name, target in response.get("links", {}).items():
                    assert target["operationId"] in ids, (method, path, code, name)
                    method_to, path_to = ids[target["operationId"]]
                    params = spec["paths"][path_to][method_to].get("parameters", [])
                    assert set(target["parameters"]) <= {p["name"] for p in params}, (method, path, code, name)
                    if {p["name"] for p in params if p["in"] == "path"} & set(target["parameters"]):
                        targets.add(target["operationId"])
    takes_an_id = {
        op["operationId"]
        for item in spec["paths"].values()
        for op in item.values()
        if any(p["in"] == "path" for p in op.get("parameters", []))
    }
    assert takes_an_id - targets == set()


def test_the_fhir_interface_is_named_but_not_described() -> None:
    """The FHIR routes answer FHIR resources and OperationOutcome errors, which this document's
    conventions (problem+json, money as strings) and its checks do not fit: FHIR describes them
    (the CapabilityStatement).  The description points there (docs/decisions/0014)."""
    spec = app.openapi()
    assert not [path for path in spec["paths"] if path.startswith("/fhir")]
    assert "/fhir/R4/metadata" in spec["info"]["description"]
