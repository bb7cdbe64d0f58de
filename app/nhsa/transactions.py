"""One message of the national platform's interface in, its answer out (``nhsa.md``).

The envelope is checked (``validation``), its ``fixmedins_code`` must be the client's hospital
(``forbidden``; an admin acts for any hospital), and its ``infno`` names the transaction: each
is carried out by its use case in :mod:`app.services.visits`,
:mod:`app.services.visit_settlements` or :mod:`app.services.visit_reconciliation`, through the
one write entry point, with the message's ``msgid`` as its idempotency key (per client; the key's
request is the ``infno``, the ``fixmedins_code`` and the ``input``).  A refusal is answered as the
platform answers it (``infcode`` -1, ``err_msg`` ``[problem-name] detail``), having changed nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app import clock
from app.db.unit_of_work import UnitOfWork
from app.engine.visit_lines import FeeLine
from app.engine.visit_statements import StatementRow, StatementTotals
from app.errors import DomainError, FieldError, Forbidden, ValidationFailed, errors_under
from app.nhsa import inputs as i
from app.nhsa import render
from app.nhsa.numbers import as_sent
from app.principal import Principal
from app.services import visit_reconciliation, visit_settlements, visits
from app.services.idempotency import IdemRequest, Reply, request_hash
from app.services.visit_reconciliation import Reconciled, StatementAsk
from app.services.visit_settlements import MessageRef, SettlementAsk, VisitSettled
from app.services.visit_state import Admission, Diagnosis, Discharge, Done, SentLine, Uploaded, VisitRef
from app.services.writes import Audit

PATH = "/fsi/api/rsfComIfsService/callService"
OPERATION = f"POST {PATH}"


@dataclass(frozen=True, slots=True)
class Message:
    """A message being answered: who sent it, its envelope, its key, and what the interface
    wants to know while it is carried out."""

    principal: Principal
    envelope: i.Envelope
    idem: IdemRequest
    received: datetime
    #: Adds the message's audit record to its transaction (None: no audit here).
    audit: Audit | None

    @property
    def hospital(self) -> str:
        return self.envelope.fixmedins_code

    def reply(self, output: Mapping[str, object], warning: str = "") -> Reply:
        return Reply(200, render.envelope(self.received, clock.now(), output, warning=warning))


@dataclass(frozen=True, slots=True)
class Answer:
    """The envelope out, and the refusal it reports (None: carried out)."""

    body: Mapping[str, Any]
    refused: DomainError | None


def answer(
    principal: Principal,
    doc: dict[str, Any],
    *,
    received: datetime,
    audit: Audit | None = None,
    created: Callable[[str], None] = lambda _id: None,
) -> Answer:
    """Carry out the message ``doc`` (the parsed body) and answer it; a refusal is an answer too.
    ``created`` is told, before the audit record is added, of the visit an admission opened."""
    try:
        envelope = i.parse(i.Envelope, doc)
        if principal.role == "hospital" and envelope.fixmedins_code != principal.hospital_code:
            raise Forbidden(
                f"fixmedins_code {envelope.fixmedins_code} is not this client's hospital ({principal.hospital_code})"
            )
        handler = HANDLERS.get(envelope.infno)
        if handler is None:
            raise ValidationFailed(
                [FieldError(("infno",), f"infno {envelope.infno} is none of {', '.join(sorted(HANDLERS))}")]
            )
        if envelope.infno == "2401" and envelope.insuplc_admdvs is None:
            raise ValidationFailed([FieldError(("insuplc_admdvs",), "2401 needs the insuring region")])
        key = {"infno": envelope.infno, "fixmedins_code": envelope.fixmedins_code, "input": doc["input"]}
        idem = IdemRequest(
            envelope.msgid, request_hash("POST", PATH, key, as_sent), OPERATION, exact_numbers=True, named="msgid"
        )
        message = Message(principal, envelope, idem, received, _noting(audit, created))
        with errors_under("input"):
            reply = handler(message)
        return Answer(reply.body, None)
    except DomainError as exc:
        return Answer(render.refusal(exc, received, clock.now()), exc)


def _noting(audit: Audit | None, created: Callable[[str], None]) -> Audit | None:
    """The audit, told first of the visit an admission's answer (made now, or replayed) names."""
    if audit is None:
        return None

    def add(work: UnitOfWork, reply: Reply) -> None:
        output = reply.body.get("output")
        result = output.get("result") if isinstance(output, dict) else None
        if isinstance(result, dict) and isinstance(result.get("mdtrt_id"), str):
            created(result["mdtrt_id"])
        audit(work, reply)

    return add


def object_id(doc: Mapping[str, Any]) -> str | None:
    """What a message is about, for its audit record: the visit it names, else the message."""
    data = doc.get("input")
    if isinstance(data, dict):
        for part in ("data", "dscginfo"):
            inner = data.get(part)
            if isinstance(inner, dict) and isinstance(inner.get("mdtrt_id"), str):
                return str(inner["mdtrt_id"])
        lines = data.get("feedetail")
        if (
            isinstance(lines, list)
            and lines
            and isinstance(lines[0], dict)
            and isinstance(lines[0].get("mdtrt_id"), str)
        ):
            return str(lines[0]["mdtrt_id"])
    msgid = doc.get("msgid")
    return f"msgid:{msgid}" if isinstance(msgid, str) else None


def operation_name(doc: Mapping[str, Any]) -> str:
    """The audit record's operation: ``nhsa:2304``."""
    infno = doc.get("infno")
    return f"nhsa:{infno}" if isinstance(infno, str) and infno.isdigit() and len(infno) == 4 else "nhsa"


# --- the transactions ----------------------------------------------------------------------------------


def _done(m: Message) -> Callable[[Done], Reply]:
    return lambda done: m.reply({}, done.warning)


def _visit_ref(m: Message, data: i.VisitData | i.LineRef | i.CancelData) -> VisitRef:
    return VisitRef(m.hospital, data.mdtrt_id, data.psn_no, ("data",))


def _diagnoses(found: list[i.Disease]) -> tuple[Diagnosis, ...]:
    return tuple(Diagnosis(d.diag_code, d.diag_name) for d in found)


def t2401(m: Message) -> Reply:
    inp = i.parse(i.Input2401, m.envelope.input)
    info = inp.mdtrtinfo
    assert m.envelope.insuplc_admdvs is not None  # checked with the envelope
    admission = Admission(
        hospital_code=m.hospital,
        insuplc_admdvs=m.envelope.insuplc_admdvs,
        insutype=info.insutype,
        mdtrtarea_admvs=m.envelope.mdtrtarea_admvs,
        psn_no=info.psn_no,
        mdtrt_cert_type=info.mdtrt_cert_type,
        mdtrt_cert_no=info.mdtrt_cert_no,
        med_type=info.med_type,
        ipt_no=info.ipt_no,
        begntime=info.begntime,
        admission_date=i.day_of(info.begntime),
        diagnoses=_diagnoses(inp.diseinfo),
    )

    def reply(done: Done) -> Reply:
        visit = done.visit
        assert visit is not None
        return m.reply(render.admission(visit.id, visit.psn_no, visit.ipt_no))

    return visits.admit(principal=m.principal, admission=admission, idem=m.idem, render=reply, audit=m.audit)


def t2404(m: Message) -> Reply:
    data = i.parse(i.InputVisit, m.envelope.input).data
    return visits.cancel_admission(
        principal=m.principal, ref=_visit_ref(m, data), idem=m.idem, render=_done(m), audit=m.audit
    )


def t2301(m: Message) -> Reply:
    inp = i.parse(i.Input2301, m.envelope.input)
    sent = [
        SentLine(
            f.mdtrt_id,
            f.psn_no,
            f.med_type,
            FeeLine(
                f.feedetl_sn,
                f.init_feedetl_sn,
                f.med_list_codg,
                f.medins_list_codg,
                f.fee_ocur_time,
                i.day_of(f.fee_ocur_time),
                f.cnt,
                f.pric,
                f.det_item_fee_sumamt,
            ),
        )
        for f in inp.feedetail
    ]

    def reply(uploaded: Uploaded) -> Reply:
        return m.reply(render.fee_lines(uploaded.lines))

    return visits.upload_lines(
        principal=m.principal,
        hospital_code=m.hospital,
        sent=sent,
        msgid=m.envelope.msgid,
        idem=m.idem,
        render=reply,
        audit=m.audit,
    )


def t2302(m: Message) -> Reply:
    data = i.parse(i.Input2302, m.envelope.input).data
    return visits.cancel_lines(
        principal=m.principal,
        ref=_visit_ref(m, data),
        feedetl_sn=data.feedetl_sn,
        idem=m.idem,
        render=_done(m),
        audit=m.audit,
    )


def t2402(m: Message) -> Reply:
    inp = i.parse(i.Input2402, m.envelope.input)
    info = inp.dscginfo
    diagnoses = _diagnoses(inp.diseinfo)
    if not diagnoses and info.dise_codg is not None:
        diagnoses = (Diagnosis(info.dise_codg, info.dise_name or ""),)
    discharge = Discharge(
        VisitRef(m.hospital, info.mdtrt_id, info.psn_no, ("dscginfo",)),
        info.insutype,
        info.endtime,
        i.day_of(info.endtime),
        diagnoses,
    )
    return visits.discharge(principal=m.principal, discharge=discharge, idem=m.idem, render=_done(m), audit=m.audit)


def t2405(m: Message) -> Reply:
    data = i.parse(i.InputVisit, m.envelope.input).data
    return visits.cancel_discharge(
        principal=m.principal, ref=_visit_ref(m, data), idem=m.idem, render=_done(m), audit=m.audit
    )


def _settlement(m: Message, *, dry_run: bool) -> Reply:
    data = i.parse(i.Input2304, m.envelope.input).data
    ask = SettlementAsk(
        ref=VisitRef(m.hospital, data.mdtrt_id, data.psn_no, ("data",)),
        mdtrt_cert_type=data.mdtrt_cert_type,
        mdtrt_cert_no=data.mdtrt_cert_no,
        medfee_sumamt=data.medfee_sumamt,
        insutype=data.insutype,
        acct_used_flag=data.acct_used_flag == "1",
        medins_setl_id=data.medins_setl_id,
        dry_run=dry_run,
    )

    def reply(s: VisitSettled) -> Reply:
        return m.reply(render.settled(s), s.warning)

    return visit_settlements.settle(
        principal=m.principal, ask=ask, msgid=m.envelope.msgid, idem=m.idem, render=reply, audit=m.audit
    )


def t2303(m: Message) -> Reply:
    return _settlement(m, dry_run=True)


def t2304(m: Message) -> Reply:
    return _settlement(m, dry_run=False)


def t2305(m: Message) -> Reply:
    data = i.parse(i.Input2305, m.envelope.input).data

    def reply(s: VisitSettled) -> Reply:
        return m.reply(render.cancelled(s))

    return visit_settlements.cancel(
        principal=m.principal, ref=_visit_ref(m, data), setl_id=data.setl_id, idem=m.idem, render=reply, audit=m.audit
    )


def t2601(m: Message) -> Reply:
    data = i.parse(i.Input2601, m.envelope.input).data
    message = MessageRef(m.hospital, data.psn_no, data.omsgid, data.oinfno)
    return visit_settlements.reverse_message(
        principal=m.principal, message=message, idem=m.idem, render=_done(m), audit=m.audit
    )


def _statement(m: Message, data: i.StatementData, detail: list[i.DetailRow] | None) -> Reply:
    ask = StatementAsk(
        hospital_code=m.hospital,
        setl_optins=data.setl_optins,
        insutype=data.insutype,
        start=data.stmt_begndate,
        end=data.stmt_enddate,
        totals=StatementTotals(data.fixmedins_setl_cnt, data.medfee_sumamt, data.fund_pay_sumamt),
        detail=None
        if detail is None
        else tuple(
            StatementRow(
                r.setl_id, r.mdtrt_id, r.psn_no, r.medfee_sumamt, r.fund_pay_sumamt, r.acct_pay, r.refd_setl_flag
            )
            for r in detail
        ),
    )

    def reply(r: Reconciled) -> Reply:
        return m.reply(render.statement(r.setl_optins, r.statement))

    try:
        return visit_reconciliation.reconcile(principal=m.principal, ask=ask, idem=m.idem, render=reply, audit=m.audit)
    except ValidationFailed as exc:  # the span's errors are located at ``to``
        raise exc.relocated(lambda loc: ("data", "stmt_enddate") if loc == ("to",) else loc) from exc


def t3201(m: Message) -> Reply:
    return _statement(m, i.parse(i.Input3201, m.envelope.input).data, None)


def t3202(m: Message) -> Reply:
    data = i.parse(i.Input3202, m.envelope.input).data
    return _statement(m, data, data.detail)


HANDLERS: dict[str, Callable[[Message], Reply]] = {
    "2401": t2401,
    "2404": t2404,
    "2301": t2301,
    "2302": t2302,
    "2402": t2402,
    "2405": t2405,
    "2303": t2303,
    "2304": t2304,
    "2305": t2305,
    "2601": t2601,
    "3201": t3201,
    "3202": t3202,
}
