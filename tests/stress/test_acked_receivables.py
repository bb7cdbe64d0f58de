"""``tests.stress.acked_receivables.check`` is not vacuous: each way the database can disagree with
what the clients were told about recoveries and write-offs is reported.

Two receivables are made over HTTP (in process): one with a recovery sent with an Idempotency-Key,
one written off.  Their answers are recorded as the load's clients record them; then one row at a
time is altered inside a transaction that is rolled back, or the record of the answers is, and the
check must name what is wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, delete, insert, update
from sqlalchemy.orm import Session
from sqlmodel import col

from app.db.receivable_tables import Receivable, Recovery
from app.errors import OutcomeUnknown
from tests.stress import acked_receivables
from tests.stress.harness import Answer, Call
from tests.support.api import ADMIN, bill_1, load_examples_over_http

THIRD_PARTY = {"reason": "third_party", "liable": {"kind": "third_party", "name": "A lorry driver"}}
CENT = Decimal("0.01")


@dataclass
class Told:
    recovery: Answer
    write_off: Answer
    recovery_id: str
    written_off_id: str


def _receivable(client: TestClient, bill_no: str) -> str:
    bill_id = client.post("/v1/bills", json={**bill_1(), "bill_no": bill_no}, headers=ADMIN).json()["bill_id"]
    request = {"scheme_code": "NRCMS-511623", "advance": THIRD_PARTY}
    r = client.post(f"/v1/bills/{bill_id}/settlements", json=request, headers=ADMIN)
    assert r.status_code == 201, r.text
    return str(r.json()["advance"]["receivable_id"])


def _answer(client: TestClient, call: Call) -> Answer:
    headers = {**ADMIN, **({"Idempotency-Key": call.key} if call.key else {})}
    r = client.request(call.method, call.path, json=call.body, headers=headers)
    return Answer(call, r.status_code, r.json(), 0.0, 0.0)


@pytest.fixture
def told(db_url: str) -> Told:
    from app.main import app

    with TestClient(app) as client:
        load_examples_over_http(client)
        first, second = _receivable(client, "ACK-1"), _receivable(client, "ACK-2")
        body = {"amount": "815.00", "received_on": "2026-04-01", "reference": "R-ACK-1"}
        recovery = _answer(client, Call("recover", "POST", f"/v1/receivables/{first}/recoveries", body, "key-1"))
        write_off = _answer(
            client, Call("write_off", "POST", f"/v1/receivables/{second}/write-off", {"reason": "gone abroad"})
        )
    assert recovery.status == 201 and write_off.status == 200, (recovery.body, write_off.body)
    made = acked_receivables.recovery_in(recovery)
    assert made is not None and made["amount"] == "815.00"
    return Told(recovery, write_off, str(made["recovery_id"]), second)


Tamper = Callable[[Session, Told], list[Answer]]


def _recovery_lost(s: Session, t: Told) -> list[Answer]:
    s.execute(delete(Recovery).where(col(Recovery.id) == t.recovery_id))
    return [t.recovery, t.write_off]


def _recovery_twice(s: Session, t: Told) -> list[Answer]:
    """A resend of the key that made a second recovery (with the request's reference)."""
    row = s.get(Recovery, t.recovery_id)
    assert row is not None
    values = {k: getattr(row, k) for k in ("receivable_id", "amount", "received_on", "reference", "created_by")}
    s.execute(insert(Recovery).values(id="second-recovery", created_at=row.created_at, **values))
    return [t.recovery, t.write_off]


def _recovery_amount(s: Session, t: Told) -> list[Answer]:
    s.execute(update(Recovery).where(col(Recovery.id) == t.recovery_id).values(amount=Decimal("814.99")))
    return [t.recovery, t.write_off]


def _write_off_lost(s: Session, t: Told) -> list[Answer]:
    s.execute(
        update(Receivable)
        .where(col(Receivable.id) == t.written_off_id)
        .values(written_off=Decimal("0.00"), status="open", write_off_reason=None)
    )
    return [t.recovery, t.write_off]


def _write_off_amount(s: Session, t: Told) -> list[Answer]:
    s.execute(
        update(Receivable)
        .where(col(Receivable.id) == t.written_off_id)
        .values(written_off=Receivable.written_off - CENT)
    )
    return [t.recovery, t.write_off]


def _recovery_never_told(s: Session, t: Told) -> list[Answer]:
    """The keyed recovery's answer was lost: keyed, it should have been resent until answered."""
    return [Answer(t.recovery.call, None, None, 0.0, 0.0, "ReadTimeout"), t.write_off]


def _write_off_never_told(s: Session, t: Told) -> list[Answer]:
    refused = {"type": "about:blank", "title": "The service is busy; retry the request"}
    return [t.recovery, Answer(t.write_off.call, 503, refused, 0.0, 0.0)]


CASES: list[tuple[Tamper, bool, str]] = [
    (_recovery_lost, False, "was acknowledged (201) but is not in the database"),
    (_recovery_twice, False, "2 recoveries with its reference, not one"),
    (_recovery_amount, False, "acknowledged on"),
    (_write_off_lost, False, "but the receivable is open with 0.00 written off"),
    (_write_off_amount, False, "but the receivable is written_off"),
    (_recovery_never_told, True, "in the database was never acknowledged"),
    (_write_off_never_told, True, "written off unacknowledged"),
]


def _check(db_url: str, t: Told, tamper: Tamper | None, *, complete: bool) -> tuple[int, list[str]]:
    engine = create_engine(db_url)
    try:
        with Session(engine) as session:
            answers = [t.recovery, t.write_off] if tamper is None else tamper(session, t)
            found = acked_receivables.check(session, answers, complete=complete)
            session.rollback()
    finally:
        engine.dispose()
    return found


@pytest.mark.parametrize(("tamper", "complete", "expected"), CASES, ids=[c[0].__name__.strip("_") for c in CASES])
def test_each_disagreement_is_reported(told: Told, db_url: str, tamper: Tamper, complete: bool, expected: str) -> None:
    checks, violations = _check(db_url, told, None, complete=True)
    assert violations == [] and checks == 2 + 1 + 2  # two answers, one recovery, two receivables
    _checks, violations = _check(db_url, told, tamper, complete=complete)
    assert any(expected in v for v in violations), violations


def test_a_lost_answer_without_a_key_may_have_been_carried_out(told: Told, db_url: str) -> None:
    """A write-off (no key) cut off by a crash, or a recovery sent without a key, may have been
    carried out: the client could not tell, and could not resend it safely."""
    unknown = {"type": "x", "title": OutcomeUnknown.title}

    def lost(s: Session, t: Told) -> list[Answer]:
        call: Any = t.recovery.call
        keyless = Call(call.op, call.method, call.path, call.body, None)
        return [Answer(keyless, None, None, 0.0, 0.0, "ReadTimeout"), Answer(t.write_off.call, 503, unknown, 0.0, 0.0)]

    assert _check(db_url, told, lost, complete=True)[1] == []
