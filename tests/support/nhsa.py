"""A hospital system speaking the national platform's interface (``nhsa.md``), for tests: it
builds envelopes, gives each message a new ``msgid``, keeps what it sent, and can lose an answer
and send the same message again.  Answers are read with their decimals exact."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import orjson

from tests.support.api import ADMIN, expected_v2, load_v2_over_http, new_client, v2_bill

URL = "/fsi/api/rsfComIfsService/callService"
#: Bill 3 of v2 (scenario E): its hospital, its person in NRCMS-511623, and the route.
HOSPITAL = "H510107001"
PSN_NO = "NC5116230001"
ID_NUMBER = "511623199003071234"
INSUPLC, INSUTYPE = "511623", "390"
ROUTE = {"schemes": [{"scheme_code": "NRCMS-511623"}, {"scheme_code": "SI-511623"}, {"scheme_code": "MA-511623"}]}
BEIJING = timezone(timedelta(hours=8))


def exact(text: str) -> Any:
    """A JSON text with its decimals exact."""
    return json.loads(text, parse_float=Decimal)


@dataclass
class Sent:
    infno: str
    envelope: dict[str, Any]


@dataclass
class HospitalSystem:
    client: Any
    headers: dict[str, str]
    fixmedins_code: str = HOSPITAL
    insuplc_admdvs: str = INSUPLC
    prefix: str = "HIS"
    sent: list[Sent] = field(default_factory=list)
    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def envelope(self, infno: str, body: dict[str, Any], msgid: str | None = None) -> dict[str, Any]:
        now = datetime.now(UTC).astimezone(BEIJING)
        return {
            "infno": infno,
            "msgid": msgid or f"{self.prefix}{now:%Y%m%d%H%M%S}{next(self.counter):06d}",
            "mdtrtarea_admvs": "510107",
            "insuplc_admdvs": self.insuplc_admdvs,
            "recer_sys_code": "FSI_LOCAL",
            "dev_no": "",
            "dev_safe_info": "",
            "cainfo": "",
            "signtype": "SM3",
            "infver": "V1.0",
            "opter_type": "1",
            "opter": "0042",
            "opter_name": "Billing clerk",
            "inf_time": f"{now:%Y-%m-%d %H:%M:%S}",
            "fixmedins_code": self.fixmedins_code,
            "fixmedins_name": "Sichuan provincial cancer hospital (sample)",
            "sign_no": "",
            "input": body,
        }

    def post(self, envelope: dict[str, Any]) -> dict[str, Any]:
        r = self.client.post(URL, content=dumps(envelope), headers={**self.headers, "Content-Type": "application/json"})
        assert r.status_code == 200, r.text
        answer: dict[str, Any] = exact(r.text)
        return answer

    def send(self, infno: str, body: dict[str, Any], *, lose_answer: bool = False) -> dict[str, Any]:
        """A new message; ``lose_answer``: it is carried out, but the answer never arrives (the
        caller gets None's stand-in, an empty dict) and the message stays the last sent."""
        envelope = self.envelope(infno, body)
        self.sent.append(Sent(infno, envelope))
        answer = self.post(envelope)
        return {} if lose_answer else answer

    def resend(self, back: int = 1) -> dict[str, Any]:
        """The message sent ``back`` messages ago, again, unchanged (its msgid too)."""
        return self.post(self.sent[-back].envelope)

    @property
    def last_msgid(self) -> str:
        return str(self.sent[-1].envelope["msgid"])


def dumps(doc: Any) -> bytes:
    """JSON with each Decimal written as the number it is (``12.50``, never a float)."""

    def number(value: Any) -> Any:
        if isinstance(value, Decimal):
            return orjson.Fragment(str(value))
        raise TypeError(type(value))

    return orjson.dumps(doc, default=number)


def settlement_input(mdtrt_id: str, total: Decimal, **more: Any) -> dict[str, Any]:
    """A 2303 or 2304 input for the sample person's visit: ``total`` as ``medfee_sumamt``, ``more``
    over the other fields."""
    return {
        "data": {
            "psn_no": PSN_NO,
            "mdtrt_cert_type": "02",
            "mdtrt_cert_no": ID_NUMBER,
            "medfee_sumamt": total,
            "psn_setlway": "01",
            "mdtrt_id": mdtrt_id,
            "insutype": INSUTYPE,
            "acct_used_flag": "0",
            "mid_setl_flag": "0",
            **more,
        }
    }


def ok(answer: dict[str, Any]) -> dict[str, Any]:
    assert answer["infcode"] == 0, answer
    assert answer["err_msg"] == "", answer
    output: dict[str, Any] = answer["output"]
    return output


def refused(answer: dict[str, Any], problem: str) -> str:
    assert answer["infcode"] == -1, answer
    assert answer["output"] == {}, answer
    message: str = answer["err_msg"]
    assert message.startswith(f"[{problem}] "), message
    return message


def setup_bill_3(client: Any) -> HospitalSystem:
    """v1 and v2 loaded, the route of Linshui's residents put, and a hospital client of bill 3's
    hospital."""
    load_v2_over_http(client)
    r = client.put(f"/v1/nhsa/routes/{INSUPLC}/{INSUTYPE}", json=ROUTE, headers=ADMIN)
    assert r.status_code == 201, r.text
    headers = new_client(
        client, {"name": "Provincial cancer hospital HIS", "role": "hospital", "hospital_code": HOSPITAL}
    )
    return HospitalSystem(client, headers)


def scenario_e() -> dict[str, Any]:
    scenario: dict[str, Any] = expected_v2()["E_one_stop_bill_3"]
    return scenario


def bill_3() -> dict[str, Any]:
    return v2_bill("bill-3.json")
