"""The month's clearing at a glance: fund payments by day and treatment region, as SQL sums them
(settlements on their day, reversals negated on theirs) and as the server draws them (SVG)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.db.tx import read_session
from app.desk import chart, i18n
from app.services import reports
from app.services.reports import DayFunds
from tests.desk.helpers import ADMIN_PERSON, CLERK, NRCMS, seed, sign_in
from tests.support.api import ADMIN, v2_bill


@pytest.fixture
def desk(db_url: str) -> Iterator[tuple[TestClient, dict[str, Any]]]:
    from app.main import app

    with TestClient(app, base_url="http://testserver") as client:
        yield client, seed(client, full=True)


def settle(client: TestClient, bill_id: str, scheme: str) -> dict[str, Any]:
    r = client.post(f"/v1/bills/{bill_id}/settlements", json={"scheme_code": scheme}, headers=ADMIN)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def test_the_clearing_page_draws_the_months_fund_payments(desk) -> None:
    client, bill = desk
    third = client.post("/v1/bills", json=v2_bill("bill-3.json"), headers=ADMIN).json()
    first = settle(client, bill["bill_id"], NRCMS)  # treated in 511623
    settle(client, third["bill_id"], NRCMS)  # treated in 510107
    uebmi = settle(client, bill["bill_id"], "UEBMI-321100")
    assert client.post(f"/v1/settlements/{uebmi['settlement_id']}/reversal", headers=ADMIN).status_code == 200
    period, today = datetime.now(UTC).strftime("%Y-%m"), datetime.now(UTC).date()

    with read_session() as s:
        days = reports.clearing_days(s, period=period, scheme_code=None)
        own = reports.clearing_days(s, period=period, scheme_code=NRCMS)
    assert {(d.day, d.treatment_region): d.fund_payment for d in days} == {
        (today, "510107"): Decimal("49200.00"),
        (today, "511623"): Decimal(first["fund_payment"]),  # UEBMI's settlement and its reversal net out
    }
    assert own == days  # only NRCMS's remain

    # The page: the statement's table and its chart, the chart's figures the API's.
    sign_in(client, ADMIN_PERSON)
    page = client.get("/desk/clearing", params={"period": period}).text
    assert 'id="clearing"' in page and 'id="clearing-chart"' in page
    svg = page[page.index("<svg", page.index('id="clearing-chart"')) : page.index("</svg>") + 6]
    titles = re.findall(r"<rect [^>]*><title>([^<]+)</title>", svg)
    i18n.set_lang("zh_CN")
    assert sorted(titles) == sorted(
        f"{today.isoformat()} · {region} · {i18n.amount(amount)}"
        for region, amount in (("510107", "49200.00"), ("511623", first["fund_payment"]))
    )
    assert "script" not in svg and "href" not in svg and svg.count("http") == 1  # the SVG namespace only
    api = client.get("/v1/clearing", params={"period": period}, headers=ADMIN).json()
    by_region: dict[str, Decimal] = {}
    for row in api["rows"]:
        by_region[row["treatment_region"]] = by_region.get(row["treatment_region"], Decimal(0)) + Decimal(
            row["fund_payment"]
        )
    legend = page[page.index('class="keys"') : page.index("</ul>", page.index('class="keys"'))]
    for region, amount in by_region.items():
        assert f"地区 {region} · {i18n.amount(amount)}" in legend
    # A clerk's chart is their scheme's; an empty month has no chart.
    client.cookies.clear()
    sign_in(client, CLERK)
    assert 'id="clearing-chart"' in client.get("/desk/clearing", params={"period": period}).text
    assert 'id="clearing-chart"' not in client.get("/desk/clearing", params={"period": "2020-01"}).text


def test_the_chart_stacks_regions_and_puts_reversals_below_the_axis() -> None:
    day = date(2026, 3, 2)
    drawn = chart.draw(
        "2026-03",
        (
            DayFunds(day, "511623", Decimal("100.00")),
            DayFunds(day, "510107", Decimal("300.00")),
            DayFunds(date(2026, 3, 3), "511623", Decimal("-200.00")),
        ),
    )
    assert drawn is not None
    up = [s for s in drawn.segments if s.y < drawn.zero_y]
    down = [s for s in drawn.segments if s.y >= drawn.zero_y]
    assert len(up) == 2 and len(down) == 1
    small, large = sorted(up, key=lambda s: s.height)
    assert abs(large.height - 3 * small.height) <= 2  # 300 is three times 100, to the pixel
    assert small.x == large.x  # one bar for the day, stacked
    assert abs(down[0].height - 2 * small.height) <= 2 and down[0].x > small.x  # the next day, below
    assert [k.region for k in drawn.keys] == ["510107", "511623"]  # by amount
    assert drawn.ticks[0].label.startswith("-")
    assert drawn.days[0].label == "1" and drawn.days[-1].label == "30"  # March has 31 days: 1, 5, ..., 30
    assert chart.draw("2026-03", ()) is None
