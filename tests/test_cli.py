"""The command line a newcomer runs: migrate and load-sample, twice, even after a settlement."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from app.__main__ import main
from app.sample import SAMPLE_DIR
from tests.support.api import ADMIN, bill_1

NRCMS, SI, MA = "NRCMS-511623", "SI-511623", "MA-511623"


def test_load_sample_can_run_again_after_a_settlement(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate"]) == 0
    assert main(["load-sample"]) == 0
    err = capsys.readouterr().err
    # v1 then v2: three hospitals; v2 replaces Wang Jun's county membership and adds Li Qiang, the
    # tiers SI and MA (no catalog) and the work-injury fund with their policies and members.  v3
    # adds a hospital, the Guang'an employee scheme and its large-amount subsidy (one catalog, two
    # policies) and four memberships (He Ping, Zhao Lei twice, Liu Guilan).  On an empty database
    # every catalog version and policy is new: none is kept.
    loaded = "sample data loaded: 4 hospitals, 7 schemes, 4 catalog versions, 7 policies, 9 members"
    loaded += ", 3 routes, 0 kept as they were"
    assert loaded in err.splitlines()
    from app.main import app

    with TestClient(app) as client:
        # v2's entry replaced v1's (same member number), as a PUT does: the August registration.
        wang = client.get("/v1/schemes/NRCMS-511623/members/NC5116230001", headers=ADMIN).json()
        assert wang["offsite_registrations"] == [
            {"destination_region": "510100", "from": "2026-08-01", "to": "2026-12-31"}
        ]
        assert client.get("/v1/hospitals/H510107001", headers=ADMIN).json()["level"] == 3
        # The routes of the national platform's interface, with the defaults of each kind.
        routes = {
            path: [(s["scheme_code"], s["fund_pay_type"], s["setlinfo_field"]) for s in body["schemes"]]
            for path in ("511623/390", "511600/310")
            for body in [client.get(f"/v1/nhsa/routes/{path}", headers=ADMIN).json()]
        }
        assert routes == {
            "511623/390": [(NRCMS, "390100", "hifp_pay"), (SI, "390200", "hifmi_pay"), (MA, "610100", "maf_pay")],
            "511600/310": [("UEBMI-511600", "310100", "hifp_pay"), ("LA-511600", "330100", "hifob_pay")],
        }
        r = client.post("/v1/claims", json={"bill": bill_1(), "schemes": ["NRCMS-511623"]}, headers=ADMIN)
        assert r.status_code == 201
        assert r.json()["settlements"][0]["fund_payment"] == "4815.00"  # bill 1 holds unchanged
        # The banner's one-stop claim of bill 3 (county scheme, serious illness, assistance).
        bill_3 = json.loads((SAMPLE_DIR / "v2" / "bill-3.json").read_text())
        r = client.post("/v1/claims", json={"bill": bill_3, "schemes": [NRCMS, SI, MA]}, headers=ADMIN)
        assert r.status_code == 201, r.text
        want = json.loads((SAMPLE_DIR / "v2" / "expected-v2.json").read_text())["E_one_stop_bill_3"]
        assert [s["fund_payment"] for s in r.json()["settlements"]] == [
            s["fund_payment"] for s in want["settlements"][:3]
        ]
        # The banner's v3 claim of bill 6: the employee scheme up to its cap, then the large-amount subsidy.
        bill_6 = json.loads((SAMPLE_DIR / "v3" / "bill-6.json").read_text())
        r = client.post("/v1/claims", json={"bill": bill_6, "schemes": ["UEBMI-511600", "LA-511600"]}, headers=ADMIN)
        assert r.status_code == 201, r.text
        want = json.loads((SAMPLE_DIR / "v3" / "expected-v3.json").read_text())["H_large_amount_bill_6"]
        assert [(s["fund_payment"], s["cap_remaining"]) for s in r.json()["settlements"]] == [
            (s["fund_payment"], s["cap_remaining"]) for s in want["settlements"]
        ]
    assert main(["load-sample"]) == 0
    assert "4 hospitals, 7 schemes, 0 catalog versions, 0 policies, 9 members, 3 routes, 11 kept as they were" in (
        capsys.readouterr().err
    )


def test_example_prints_the_split(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["example"]) == 0
    out = capsys.readouterr().out
    assert "pays   4815.00" in out
    assert "pays   6885.00  patient owes      0.00" in out


def test_create_user_reads_the_password_from_stdin(
    db_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from sqlalchemy import select

    from app.db import tables as db
    from app.db.tx import read_session

    assert main(["load-sample"]) == 0
    args = ["create-user", "--username", "li-ming", "--name", "Li Ming", "--role", "scheme_office"]
    args += ["--scheme-code", "NRCMS-511623", "--password-stdin"]
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert main(args) == 0
    assert "created user li-ming (scheme_office)" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert main(args) == 1  # exists
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert main([*args, "--if-missing"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main([*args[:2], "other-user", *args[3:]]) == 2
    assert "password" in capsys.readouterr().err
    with read_session() as s:
        user = s.scalars(select(db.AppUser)).one()
    assert user.role == "scheme_office" and user.password_hash.startswith("$argon2id$")
    # make run's sample clerks: created once, kept on the next run.
    monkeypatch.setattr("sys.stdin", io.StringIO("desk-sample-password\n"))
    assert main(["sample-users", "--password-stdin"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("desk-sample-password\n"))
    assert main(["sample-users", "--password-stdin"]) == 0
    with read_session() as s:
        names = sorted(u.username for u in s.scalars(select(db.AppUser)))
    assert names == ["hospital-clerk", "li-ming", "nrcms-clerk"]


def test_check_ledger_reports_a_broken_ledger(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    from sqlalchemy import update

    from app.db import tables as db
    from app.db.tx import write_transaction
    from app.main import app

    assert main(["load-sample"]) == 0
    with TestClient(app) as client:
        r = client.post("/v1/claims", json={"bill": bill_1(), "schemes": [NRCMS]}, headers=ADMIN)
        assert r.status_code == 201, r.text
        bill_id = r.json()["bill"]["bill_id"]
    capsys.readouterr()
    assert main(["check-ledger"]) == 0
    out, err = capsys.readouterr()
    assert out == "" and err.endswith(" violations\n") and ", 0 violations" in err
    # A ledger moved behind the service's back: the bill's paid total no longer matches.
    write_transaction(
        lambda w: w.session.execute(
            update(db.Bill).where(db.Bill.id == bill_id).values(paid_total=db.Bill.paid_total + 1)
        ),
        operation="test",
    )
    assert main(["check-ledger"]) == 1
    out, err = capsys.readouterr()
    assert out == f"bill {bill_id}: ledger 4816.00 != active payments 4815.00\n"
    assert ", 1 violations" in err
