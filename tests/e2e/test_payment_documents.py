"""Receipts, fleet invoices, owner reports and reconciliation over the real operator API and
a real migrated database (SQLite, or PostgreSQL with LADDNAT_TEST_DATABASE_URL).

The network, sessions and payments are rows written through the ORM (fixture data); the
only stand-in is the PSP's settlement feed, a small class implementing
``PaymentProvider.settlements``.
"""

from __future__ import annotations

import csv
import io
import itertools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.billing.errors import NothingToInvoice
from app.billing.invoices.fleet import FleetService
from app.billing.invoices.numbering import counter_name
from app.billing.invoices.schemas import FleetAccountIn
from app.billing.invoices.service import InvoiceService
from app.billing.models import Invoice
from app.chargers.models import ChargePoint, Evse, Location
from app.core.database import Counter, create_engine
from app.core.settings import Settings
from app.main import create_app
from app.operators.models import Operator
from app.sessions.models import Transaction
from app.tariffs.pricing import Reading, TariffTerms, Usage, price, vat_of
from payments.models import Payment, Refund
from payments.provider import SettlementLine
from payments.registry import Providers
from tests.e2e.test_api import problem, running
from tests.support import create_staff

OPS = "/api/v1/operator"
EMAIL, PASSWORD = "owner@example.se", "owner-password-1"
TERMS = TariffTerms(
    name="Standard",
    currency="SEK",
    price_per_kwh_minor=349,
    session_fee_minor=500,
    vat_rate_bp=2500,
    hold_amount_minor=30000,
    time_zone="Europe/Stockholm",
)
# A second VAT rate, for an invoice with two.
TERMS_LOW_VAT = TariffTerms(name="Reduced", currency="SEK", price_per_kwh_minor=300, vat_rate_bp=1200)

_numbers = itertools.count(1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


class SettlementFeed:
    """The PSP's side of reconciliation: the lines a test says it moved."""

    name = "stripe"

    def __init__(self) -> None:
        self.lines: list[SettlementLine] = []
        self.asked: list[tuple[datetime, datetime]] = []

    async def settlements(self, since: datetime, until: datetime) -> list[SettlementLine]:
        self.asked.append((since, until))
        return list(self.lines)


@dataclass
class Net:
    operator: Operator
    locations: list[Location]
    chargers: list[ChargePoint]
    evses: list[Evse]


@dataclass
class Env:
    client: httpx.AsyncClient
    maker: async_sessionmaker[AsyncSession]
    headers: dict[str, str]
    net: Net
    feed: SettlementFeed

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.client.get(f"{OPS}{path}", params=params, headers=self.headers)

    async def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return await self.client.post(f"{OPS}{path}", json=body, headers=self.headers)


async def build_network(db: AsyncSession) -> Net:
    operator = Operator(name="Laddnät Söder AB", country_code="SE", party_id="LAD")
    db.add(operator)
    await db.flush()
    locations = [
        Location(operator_id=operator.id, name="Åkersberga Centrum", address="Storgatan 1", city="Åkersberga"),
        Location(operator_id=operator.id, name="Göteborg Hamn", address="Kajen 3", city="Göteborg"),
    ]
    db.add_all(locations)
    await db.flush()
    chargers = [
        ChargePoint(
            number=9001,
            identity="DOC-CP-A1",
            operator_id=operator.id,
            location_id=locations[0].id,
            password_hash="x",
        ),
        ChargePoint(
            number=9002,
            identity="DOC-CP-A2",
            operator_id=operator.id,
            location_id=locations[0].id,
            password_hash="x",
        ),
        ChargePoint(
            number=9003,
            identity="DOC-CP-B1",
            operator_id=operator.id,
            location_id=locations[1].id,
            password_hash="x",
        ),
    ]
    db.add_all(chargers)
    await db.flush()
    evses = [
        Evse(charge_point_id=cp.id, evse_number=1, evse_id=f"SE*LAD*E{9001 + i}*1") for i, cp in enumerate(chargers)
    ]
    db.add_all(evses)
    await db.commit()
    return Net(operator, locations, chargers, evses)


async def add_session(
    db: AsyncSession,
    net: Net,
    charger: int,
    stopped_at: datetime,
    energy_wh: float,
    *,
    token: str = "CARD-0",
    minutes: int = 40,
    terms: TariffTerms = TERMS,
    active: bool = False,
) -> Transaction:
    """A session priced the way the backend prices one (app.tariffs.pricing.price)."""
    started_at = stopped_at - timedelta(minutes=minutes)
    cp = net.chargers[charger]
    n = next(_numbers)
    tx = Transaction(
        number=100_000 + n,
        charge_point_id=cp.id,
        charger_transaction_id=f"doc-{n}",
        evse_number=1,
        connector_number=1,
        id_token=token,
        status="active" if active else "completed",
        started_at=started_at,
        energy_wh=energy_wh,
    )
    if not active:
        cost = price(
            terms,
            Usage(
                started_at=started_at,
                readings=(Reading(at=started_at, energy_wh=0), Reading(at=stopped_at, energy_wh=energy_wh)),
                ended_at=stopped_at,
            ),
        )
        tx.stopped_at = stopped_at
        tx.tariff_snapshot = terms.to_dict()
        tx.cost = msgspec.to_builtins(cost)
        tx.cost_currency, tx.cost_minor, tx.cost_vat_minor = cost.currency, cost.total_minor, cost.vat_minor
        tx.priced_at = stopped_at
    db.add(tx)
    await db.flush()
    return tx


async def add_payment(
    db: AsyncSession,
    net: Net,
    tx: Transaction | None,
    status: str,
    *,
    charger: int = 0,
    captured: int | None = None,
    refunds: tuple[int, ...] = (),
    provider: str = "stripe",
    settled_at: datetime | None = None,
    authorised_at: datetime | None = None,
    brand: str | None = "visa",
    last4: str | None = "4242",
) -> Payment:
    n = next(_numbers)
    due = tx.cost_minor if tx is not None else None
    taken = captured if captured is not None else (min(due or 0, TERMS.hold_amount_minor) if due else 0)
    payment = Payment(
        operator_id=net.operator.id,
        provider=provider,
        provider_ref=f"pi_doc_{n}",
        status=status,
        currency="SEK",
        hold_minor=TERMS.hold_amount_minor,
        amount_due_minor=due,
        captured_minor=taken if status in {"captured", "partially_refunded", "refunded"} else 0,
        refunded_minor=sum(refunds),
        evse_id=net.evses[charger].id,
        id_token=f"pay-doc-{n}",
        transaction_id=tx.id if tx is not None else None,
        tariff_snapshot=TERMS.to_dict(),
        method_brand=brand,
        method_last4=last4,
        authorised_at=authorised_at,
        settled_at=settled_at or (tx.stopped_at if tx is not None else None),
    )
    if authorised_at is not None:
        payment.created_at = authorised_at
    db.add(payment)
    await db.flush()
    for seq, amount in enumerate(refunds, start=1):
        db.add(
            Refund(
                payment_id=payment.id,
                seq=seq,
                amount_minor=amount,
                reason="charger fault",
                status="succeeded",
                provider_ref=f"re_doc_{n}_{seq}",
                created_at=(payment.settled_at or utc(2025, 1, 1)) + timedelta(hours=2),
            )
        )
    await db.flush()
    return payment


@pytest.fixture(scope="module")
async def env(settings: Settings) -> AsyncIterator[Env]:
    engine = create_engine(settings.db)
    feed = SettlementFeed()
    app = create_app(settings, engine=engine, providers=Providers(settings.payments, {"stripe": feed}))  # type: ignore[dict-item]
    maker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    async with maker() as db:
        net = await build_network(db)
        await create_staff(db, EMAIL, PASSWORD, operator_id=net.operator.id)
    transport = httpx.ASGITransport(app=app)
    async with running(app), httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        r = await client.post("/api/v1/auth/token", json={"email": EMAIL, "password": PASSWORD})
        assert r.status_code == 200, r.text
        yield Env(client, maker, {"Authorization": f"Bearer {r.json()['accessToken']}"}, net, feed)
    await engine.dispose()


# -- receipts -----------------------------------------------------------------------------------


async def test_receipt_of_a_captured_payment_has_every_field(env: Env) -> None:
    async with env.maker() as db:
        tx = await add_session(db, env.net, 1, utc(2025, 10, 3, 17, 30), 12_345)
        payment = await add_payment(db, env.net, tx, "partially_refunded", charger=1, refunds=(500,))
        await db.commit()
    cost = msgspec.convert(tx.cost, dict)

    r = await env.get(f"/payments/{payment.id}/receipt")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["evseId"] == "SE*LAD*E9002*1"
    assert body["operatorName"] == "Laddnät Söder AB" and body["operatorKey"] == "SE*LAD"
    assert body["locationName"] == "Åkersberga Centrum"
    assert body["startedAt"] == "2025-10-03T16:50:00Z" and body["stoppedAt"] == "2025-10-03T17:30:00Z"
    assert body["energyWh"] == pytest.approx(12_345)
    assert [line["kind"] for line in body["lines"]] == ["energy", "session_fee"]
    assert sum(line["amountMinor"] for line in body["lines"]) == cost["total_minor"] == body["capturedMinor"]
    assert body["priceMinor"] == cost["total_minor"]
    assert body["vat"] == [
        {
            "rateBp": 2500,
            "netMinor": cost["net_minor"],
            "vatMinor": cost["vat_minor"],
            "grossMinor": cost["total_minor"],
        }
    ]
    assert body["refundedMinor"] == 500 and body["paidMinor"] == cost["total_minor"] - 500
    assert (body["methodBrand"], body["methodLast4"]) == ("visa", "4242")
    assert body["transactionNumber"] == tx.number

    same = await env.get(f"/transactions/{tx.id}/receipt")
    assert same.json() == body


async def test_receipt_when_the_hold_capped_the_capture(env: Env) -> None:
    async with env.maker() as db:
        # 90 kWh at 3.49 + 5.00 is more than the 300.00 hold.
        tx = await add_session(db, env.net, 0, utc(2025, 10, 4, 9), 90_000, minutes=120)
        payment = await add_payment(db, env.net, tx, "captured")
        await db.commit()
    body = (await env.get(f"/payments/{payment.id}/receipt")).json()
    assert body["capturedMinor"] == 30000 < body["priceMinor"]
    assert body["lines"][-1]["kind"] == "hold_limit"
    assert sum(line["amountMinor"] for line in body["lines"]) == 30000
    assert body["vat"][0]["vatMinor"] == vat_of(30000, 2500) == 6000


async def test_receipt_html_and_pdf_render(env: Env) -> None:
    async with env.maker() as db:
        tx = await add_session(db, env.net, 2, utc(2025, 10, 5, 12), 7_500)
        payment = await add_payment(db, env.net, tx, "captured", charger=2, brand="mc", last4="5454")
        await db.commit()
    total = tx.cost_minor or 0
    html = await env.get(f"/payments/{payment.id}/receipt.html")
    assert html.status_code == 200
    assert html.headers["content-type"].startswith("text/html")
    assert "SE*LAD*E9003*1" in html.text
    assert f"{total // 100}.{total % 100:02d} SEK" in html.text
    assert "Göteborg Hamn" in html.text and "•••• 5454" in html.text
    assert "<script" not in html.text and "http" not in html.text.split("<body>")[1]

    pdf = await env.get(f"/payments/{payment.id}/receipt.pdf")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert 'filename="receipt-20251005-' in pdf.headers["content-disposition"]

    via_tx = await env.get(f"/transactions/{tx.id}/receipt.pdf")
    assert via_tx.content.startswith(b"%PDF")


@pytest.mark.parametrize("status", ["created", "authorised", "capturing", "cancelling", "cancelled", "failed"])
async def test_no_receipt_for_a_payment_that_took_no_money(env: Env, status: str) -> None:
    async with env.maker() as db:
        tx = await add_session(db, env.net, 0, utc(2025, 10, 6, 8), 0, active=True)
        payment = await add_payment(db, env.net, tx, status)
        await db.commit()
    for suffix in ("", ".html", ".pdf"):
        body = problem(await env.get(f"/payments/{payment.id}/receipt{suffix}"), 404, "receipt.not_found")
        assert status in body["detail"]


async def test_no_receipt_for_unknown_payment_or_fleet_session(env: Env) -> None:
    problem(await env.get(f"/payments/{uuid.uuid4()}/receipt"), 404, "receipt.not_found")
    problem(await env.get(f"/transactions/{uuid.uuid4()}/receipt"), 404, "receipt.not_found")
    async with env.maker() as db:
        account = await FleetService(db).create(
            FleetAccountIn(name="Receipt Fleet AB", billing_email="a@b.se", currency="SEK"),
            operator_id=env.net.operator.id,
        )
        await FleetService(db).link_token(account.id, "FLEET-RCPT")
        tx = await add_session(db, env.net, 0, utc(2025, 10, 7, 8), 5000, token="FLEET-RCPT")
        await db.commit()
    body = problem(await env.get(f"/transactions/{tx.id}/receipt"), 404, "receipt.not_found")
    assert "fleet account" in body["detail"]


# -- fleet accounts and invoices -----------------------------------------------------------------


async def create_account(env: Env, name: str, *tokens: str) -> dict[str, Any]:
    r = await env.post(
        "/fleet-accounts",
        {
            "name": name,
            "billingEmail": "billing@example.se",
            "currency": "SEK",
            "organisationNumber": "556677-8899",
            "vatNumber": "SE556677889901",
            "paymentTermsDays": 20,
        },
    )
    assert r.status_code == 201, r.text
    account = r.json()
    for token in tokens:
        linked = await env.post(f"/fleet-accounts/{account['id']}/tokens", {"idToken": token})
        assert linked.status_code == 201, linked.text
    return account  # type: ignore[no-any-return]


async def test_invoices_are_numbered_without_gaps_across_accounts(env: Env) -> None:
    first = await create_account(env, "Åkeri Ström AB", "FLEET-A1", "FLEET-A2")
    second = await create_account(env, "Taxi Väst AB", "FLEET-B1")
    async with env.maker() as db:
        a1 = await add_session(db, env.net, 0, utc(2025, 1, 10, 8), 20_000, token="FLEET-A1")
        a2 = await add_session(db, env.net, 2, utc(2025, 1, 31, 23, 59), 10_000, token="FLEET-A2")
        await add_session(db, env.net, 1, utc(2025, 2, 1, 0, 0), 5_000, token="FLEET-A1")  # February
        await add_session(db, env.net, 1, utc(2025, 1, 15, 8), 30_000, token="FLEET-B1")
        # Not invoiced: a card-paid session of a fleet token, and one still running.
        paid = await add_session(db, env.net, 1, utc(2025, 1, 16, 8), 30_000, token="FLEET-B1")
        await add_payment(db, env.net, paid, "captured", charger=1)
        await add_session(db, env.net, 1, utc(2025, 1, 17, 8), 1_000, token="FLEET-B1", active=True)
        await db.commit()

    r1 = await env.post(f"/fleet-accounts/{first['id']}/invoices", {"month": "2025-01"})
    assert r1.status_code == 201, r1.text
    inv1 = r1.json()
    assert [line["transactionId"] for line in inv1["lines"]] == [str(a1.id), str(a2.id)]
    assert inv1["periodStart"] == "2025-01-01" and inv1["periodEnd"] == "2025-02-01"
    assert inv1["buyer"]["name"] == "Åkeri Ström AB" and inv1["seller"]["name"] == "Laddnät Söder AB"

    # An empty month fails and takes no number.
    empty = await env.post(f"/fleet-accounts/{second['id']}/invoices", {"month": "2024-12"})
    problem(empty, 409, "invoice.nothing_to_invoice")

    r2 = await env.post(f"/fleet-accounts/{second['id']}/invoices", {"month": "2025-01"})
    assert r2.status_code == 201, r2.text
    inv2 = r2.json()
    assert len(inv2["lines"]) == 1
    r3 = await env.post(f"/fleet-accounts/{first['id']}/invoices", {"month": "2025-02"})
    inv3 = r3.json()

    year = datetime.now(UTC).year
    numbers = [inv1["number"], inv2["number"], inv3["number"]]
    sequence = [int(n.rsplit("-", 1)[1]) for n in numbers]
    assert all(n.startswith(f"LAD-{year}-") for n in numbers)
    assert sequence == list(range(sequence[0], sequence[0] + 3))

    # Issuing again returns the same invoice and consumes nothing.
    again = await env.post(f"/fleet-accounts/{first['id']}/invoices", {"month": "2025-01", "notes": "ignored"})
    assert again.status_code == 200 and again.json() == inv1
    async with env.maker() as db:
        counter = await db.get(Counter, counter_name(env.net.operator.id, year))
        assert counter is not None and counter.value == sequence[-1]

    listed = (await env.get("/invoices", fleetAccountId=first["id"])).json()
    assert {i["number"] for i in listed["items"]} == {inv1["number"], inv3["number"]}
    got = await env.get(f"/invoices/{inv1['id']}")
    assert got.json() == inv1
    pdf = await env.get(f"/invoices/{inv1['id']}/invoice.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert inv1["number"] in pdf.headers["content-disposition"]


async def test_invoice_vat_is_summed_per_rate(env: Env) -> None:
    account = await create_account(env, "Blandat Moms AB", "FLEET-VAT")
    async with env.maker() as db:
        txs = [
            await add_session(db, env.net, 0, utc(2025, 3, d, 10), wh, token="FLEET-VAT")
            for d, wh in ((3, 11_111), (4, 22_222), (5, 3_333))
        ] + [
            await add_session(db, env.net, 1, utc(2025, 3, d, 10), wh, token="FLEET-VAT", terms=TERMS_LOW_VAT)
            for d, wh in ((6, 7_777), (7, 1_234))
        ]
        await db.commit()
    r = await env.post(f"/fleet-accounts/{account['id']}/invoices", {"month": "2025-03"})
    assert r.status_code == 201, r.text
    inv = r.json()
    gross = {2500: 0, 1200: 0}
    for tx in txs:
        gross[tx.cost["vat_rate_bp"]] += tx.cost_minor  # type: ignore[index,operator]
    expected = [
        {"rateBp": rate, "netMinor": g - vat_of(g, rate), "vatMinor": vat_of(g, rate), "totalMinor": g}
        for rate, g in sorted(gross.items())
    ]
    assert inv["vat"] == expected
    assert inv["totalMinor"] == sum(gross.values())
    assert inv["vatMinor"] == sum(v["vatMinor"] for v in expected)
    assert inv["netMinor"] + inv["vatMinor"] == inv["totalMinor"]
    assert sum(line["totalMinor"] for line in inv["lines"]) == inv["totalMinor"]
    assert inv["dueOn"] == (datetime.now(UTC).date() + timedelta(days=20)).isoformat()


async def test_invoice_errors(env: Env) -> None:
    account = await create_account(env, "Fel AB", "FLEET-ERR")
    other = await create_account(env, "Annan AB")
    problem(await env.post(f"/fleet-accounts/{other['id']}/tokens", {"idToken": "FLEET-ERR"}), 409, "fleet.token_taken")
    relinked = await env.post(f"/fleet-accounts/{account['id']}/tokens", {"idToken": "FLEET-ERR"})
    assert relinked.status_code == 200
    month = datetime.now(UTC).strftime("%Y-%m")
    problem(await env.post(f"/fleet-accounts/{account['id']}/invoices", {"month": month}), 409, "invoice.period_open")
    problem(await env.post(f"/fleet-accounts/{account['id']}/invoices", {"month": "2025-13"}), 422, "request.invalid")
    problem(
        await env.post(f"/fleet-accounts/{uuid.uuid4()}/invoices", {"month": "2025-01"}), 404, "fleet.account_not_found"
    )
    problem(await env.get(f"/invoices/{uuid.uuid4()}"), 404, "invoice.not_found")
    problem(await env.get(f"/invoices/{uuid.uuid4()}/invoice.pdf"), 404, "invoice.not_found")
    got = (await env.get(f"/fleet-accounts/{account['id']}")).json()
    assert got["tokens"] == ["FLEET-ERR"] and got["operatorId"] == str(env.net.operator.id)


async def test_issuing_an_empty_month_in_the_service_writes_nothing(env: Env) -> None:
    async with env.maker() as db:
        account = await FleetService(db).create(
            FleetAccountIn(name="Tom AB", billing_email="t@example.se", currency="SEK"),
            operator_id=env.net.operator.id,
        )
        before = list(await db.scalars(select(Counter.value).order_by(Counter.name)))
        with pytest.raises(NothingToInvoice):
            await InvoiceService(db).issue(account.id, "2025-04")
        assert list(await db.scalars(select(Counter.value).order_by(Counter.name))) == before
        assert await db.scalar(select(Invoice).where(Invoice.fleet_account_id == account.id)) is None


# -- reports ----------------------------------------------------------------------------------


async def test_revenue_report_by_location_and_charger_per_day_and_month(env: Env) -> None:
    async with env.maker() as db:
        # Location 0 (chargers 0 and 1), day 2025-06-02: two paid sessions, one refunded in part.
        p1 = await add_session(db, env.net, 0, utc(2025, 6, 2, 10), 10_000)
        p2 = await add_session(db, env.net, 1, utc(2025, 6, 2, 23, 59), 20_000)
        await add_payment(db, env.net, p1, "captured", charger=0)
        await add_payment(db, env.net, p2, "partially_refunded", charger=1, refunds=(1_000,))
        # Location 1 (charger 2), 2025-06-03: one on-account session, one paid and wholly refunded.
        account = await FleetService(db).create(
            FleetAccountIn(name="Rapport AB", billing_email="r@example.se", currency="SEK"),
            operator_id=env.net.operator.id,
        )
        await FleetService(db).link_token(account.id, "FLEET-REP")
        f1 = await add_session(db, env.net, 2, utc(2025, 6, 3, 0, 0), 15_000, token="FLEET-REP")
        p3 = await add_session(db, env.net, 2, utc(2025, 6, 3, 8), 5_000)
        await add_payment(db, env.net, p3, "refunded", charger=2, refunds=(p3.cost_minor or 0,))
        # July, location 0; and outside the range (before and at its exclusive end).
        p4 = await add_session(db, env.net, 0, utc(2025, 7, 20, 8), 4_000)
        await add_payment(db, env.net, p4, "captured", charger=0)
        out1 = await add_session(db, env.net, 0, utc(2025, 5, 31, 23, 59), 4_000)
        await add_payment(db, env.net, out1, "captured", charger=0)
        out2 = await add_session(db, env.net, 0, utc(2025, 8, 1), 4_000)
        await add_payment(db, env.net, out2, "captured", charger=0)
        # Money not taken: not revenue.
        held = await add_session(db, env.net, 0, utc(2025, 6, 2, 11), 4_000)
        await add_payment(db, env.net, held, "cancelled", charger=0)
        await db.commit()

    def c(tx: Transaction) -> int:
        return tx.cost_minor or 0

    rng = {"from": "2025-06-01T00:00:00Z", "to": "2025-08-01T00:00:00Z"}
    r = await env.get("/reports/revenue", **rng, groupBy="location", period="day")
    assert r.status_code == 200, r.text
    report = r.json()
    rows = {(row["period"], row["groupName"]): row for row in report["rows"]}
    assert list(rows) == [
        ("2025-06-02", "Åkersberga Centrum"),
        ("2025-06-03", "Göteborg Hamn"),
        ("2025-07-20", "Åkersberga Centrum"),
    ]
    day1 = rows[("2025-06-02", "Åkersberga Centrum")]
    assert (day1["sessions"], day1["paidSessions"], day1["onAccountSessions"]) == (2, 2, 0)
    assert day1["energyWh"] == 30_000
    assert day1["capturedMinor"] == c(p1) + c(p2) and day1["refundedMinor"] == 1_000
    assert day1["revenueMinor"] == c(p1) + c(p2) - 1_000
    assert day1["groupId"] == str(env.net.locations[0].id)
    day2 = rows[("2025-06-03", "Göteborg Hamn")]
    assert (day2["sessions"], day2["onAccountSessions"], day2["onAccountMinor"]) == (2, 1, c(f1))
    assert day2["revenueMinor"] == c(f1)  # the paid one was refunded whole
    assert report["totals"] == [
        {
            "currency": "SEK",
            "sessions": 5,
            "energyWh": 54_000,
            "capturedMinor": c(p1) + c(p2) + c(p3) + c(p4),
            "refundedMinor": 1_000 + c(p3),
            "onAccountMinor": c(f1),
            "revenueMinor": c(p1) + c(p2) + c(p4) - 1_000 + c(f1),
        }
    ]

    by_charger = (await env.get("/reports/revenue", **rng, groupBy="charger", period="month")).json()
    months = {(row["period"], row["groupName"]): row["revenueMinor"] for row in by_charger["rows"]}
    assert months == {
        ("2025-06", "DOC-CP-A1"): c(p1),
        ("2025-06", "DOC-CP-A2"): c(p2) - 1_000,
        ("2025-06", "DOC-CP-B1"): c(f1),
        ("2025-07", "DOC-CP-A1"): c(p4),
    }

    text = await env.get("/reports/revenue.csv", **rng, groupBy="charger", period="month")
    assert text.status_code == 200
    assert text.headers["content-type"].startswith("text/csv")
    assert "attachment" in text.headers["content-disposition"] and ".csv" in text.headers["content-disposition"]
    table = list(csv.DictReader(io.StringIO(text.text)))
    assert table[0].keys() >= {"period", "groupName", "sessions", "energyWh", "revenueMinor"}
    assert {(row["period"], row["groupName"]): int(row["revenueMinor"]) for row in table} == months

    problem(await env.get("/reports/revenue", **{"from": rng["to"], "to": rng["from"]}), 422, "request.invalid")


async def test_refunds_and_holds_reports(env: Env) -> None:
    now = datetime.now(UTC)
    async with env.maker() as db:
        tx = await add_session(db, env.net, 1, utc(2025, 9, 10, 10), 20_000)
        refunded = await add_payment(db, env.net, tx, "partially_refunded", charger=1, refunds=(700, 300))
        holds = []
        for status, hours in (("authorised", 3), ("capturing", 2), ("cancelling", 1)):
            running_tx = await add_session(db, env.net, 2, now, 0, active=True)
            holds.append(
                await add_payment(
                    db, env.net, running_tx, status, charger=2, authorised_at=now - timedelta(hours=hours)
                )
            )
        await db.commit()

    rng = {"from": "2025-09-01T00:00:00Z", "to": "2025-10-01T00:00:00Z"}
    report = (await env.get("/reports/refunds", **rng)).json()
    mine = [i for i in report["items"] if i["paymentId"] == str(refunded.id)]
    assert sorted(i["amountMinor"] for i in mine) == [300, 700]
    assert {i["evseId"] for i in mine} == {"SE*LAD*E9002*1"}
    assert report["totals"] == [{"currency": "SEK", "count": 2, "amountMinor": 1_000}]
    text = (await env.get("/reports/refunds.csv", **rng)).text
    assert text.splitlines()[0].startswith("id,paymentId,seq,amountMinor")
    assert len(text.splitlines()) == 3

    # Other tests leave fresh holds of their own; these three are the oldest.
    held = (await env.get("/reports/holds")).json()
    assert [h["paymentId"] for h in held["items"][:3]] == [str(p.id) for p in holds]
    assert [h["status"] for h in held["items"][:3]] == ["authorised", "capturing", "cancelling"]
    assert held["items"][0]["ageSeconds"] >= 3 * 3600
    assert held["totals"][0]["count"] == len(held["items"])
    assert held["totals"][0]["amountMinor"] == sum(h["holdMinor"] for h in held["items"])
    older = (await env.get("/reports/holds", olderThanMinutes=90)).json()
    assert [h["paymentId"] for h in older["items"]] == [str(p.id) for p in holds[:2]]
    assert older["totals"] == [{"currency": "SEK", "count": 2, "amountMinor": 2 * TERMS.hold_amount_minor}]
    csv_text = (await env.get("/reports/holds.csv", olderThanMinutes=90)).text
    assert csv_text.splitlines()[0].startswith("paymentId,status") and len(csv_text.splitlines()) == 3


# -- reconciliation --------------------------------------------------------------------------


async def test_reconciliation_finds_every_kind_of_mismatch(env: Env) -> None:
    async with env.maker() as db:

        async def paid(day: int, hour: int = 12, **kw: Any) -> Payment:
            tx = await add_session(db, env.net, 0, utc(2025, 12, day, hour), 10_000)
            return await add_payment(db, env.net, tx, kw.pop("status", "captured"), **kw)

        ok = await paid(2)
        ok_refunded = await paid(3, status="partially_refunded", refunds=(400,))
        missing = await paid(4)
        wrong = await paid(5)
        foreign = await paid(6)
        refund_missing = await paid(7, status="partially_refunded", refunds=(250,))
        # Captured by us at 23:50 on the last day; the PSP books it after midnight.
        edge = await paid(31, 23)
        cancelled_tx = await add_session(db, env.net, 0, utc(2025, 12, 8, 12), 10_000, active=True)
        cancelled = await add_payment(db, env.net, cancelled_tx, "cancelled", settled_at=utc(2025, 12, 8, 12))
        # Adyen's: another PSP's ledger, never compared with Stripe's lines.
        await paid(9, provider="adyen")
        await db.commit()

    def line(p: Payment, amount: int, kind: str = "capture", **kw: Any) -> SettlementLine:
        return SettlementLine(
            provider_ref=p.provider_ref or "",
            payment_id=kw.pop("payment_id", p.id),
            kind=kind,  # type: ignore[arg-type]
            amount_minor=amount,
            currency=kw.pop("currency", "SEK"),
            fee_minor=kw.pop("fee", 0),
            occurred_at=kw.pop("at", (p.settled_at or utc(2025, 12, 1)) + timedelta(minutes=1)),
            line_ref=f"txn_{uuid.uuid4().hex[:8]}",
        )

    env.feed.lines = [
        line(ok, ok.captured_minor, fee=50),
        line(ok_refunded, ok_refunded.captured_minor),
        line(ok_refunded, -400, "refund"),
        line(wrong, wrong.captured_minor - 1),
        line(foreign, foreign.captured_minor, currency="EUR"),
        line(refund_missing, refund_missing.captured_minor),
        line(edge, edge.captured_minor, at=utc(2026, 1, 1, 0, 5)),
        # The PSP took money for a payment we cancelled, and for one we never had.
        line(cancelled, 1234),
        SettlementLine(
            provider_ref="pi_stranger",
            payment_id=None,
            kind="capture",
            amount_minor=999,
            currency="SEK",
            occurred_at=utc(2025, 12, 10),
        ),
        # A refund of ours booked by the PSP, but for January: not this report's.
        line(ok, -100, "refund", at=utc(2026, 1, 2)),
    ]
    r = await env.post(
        "/reconciliations", {"provider": "stripe", "from": "2025-12-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}
    )
    assert r.status_code == 200, r.text
    result = r.json()
    assert env.feed.asked[-1] == (utc(2025, 11, 30), utc(2026, 1, 2))
    found = {(m["kind"], m["entry"], m["paymentId"]) for m in result["mismatches"]}
    assert found == {
        ("missing", "capture", str(missing.id)),
        ("missing", "refund", str(refund_missing.id)),
        ("wrong_amount", "capture", str(wrong.id)),
        ("currency_mismatch", "capture", str(foreign.id)),
        ("extra", "capture", str(cancelled.id)),
        ("extra", "capture", None),
    }
    # ok, ok_refunded (capture and refund), refund_missing's capture, edge.
    assert result["matched"] == 5
    wrong_out = next(m for m in result["mismatches"] if m["kind"] == "wrong_amount")
    assert wrong_out["pspMinor"] == wrong.captured_minor - 1
    assert wrong_out["oursMinor"] == wrong.captured_minor
    stranger = next(m for m in result["mismatches"] if m["paymentId"] is None)
    assert stranger["providerRef"] == "pi_stranger" and stranger["pspMinor"] == 999
    cancelled_out = next(m for m in result["mismatches"] if m["paymentId"] == str(cancelled.id))
    assert "cancelled" in cancelled_out["detail"]
    sek = next(t for t in result["totals"] if t["currency"] == "SEK")
    assert sek["pspFeeMinor"] == 50 and sek["oursRefundedMinor"] == -650 and sek["pspRefundedMinor"] == -400

    problem(
        await env.post(
            "/reconciliations", {"provider": "adyen", "from": "2025-12-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}
        ),
        409,
        "reconciliation.provider_not_configured",
    )
    problem(
        await env.post(
            "/reconciliations", {"provider": "stripe", "from": "2026-01-01T00:00:00Z", "to": "2025-12-01T00:00:00Z"}
        ),
        422,
        "request.invalid",
    )


async def test_documents_need_an_operator(env: Env) -> None:
    for path in ("/reports/holds", f"/payments/{uuid.uuid4()}/receipt", "/fleet-accounts"):
        problem(await env.client.get(f"{OPS}{path}"), 401, "auth.unauthenticated")
