"""Two operator companies (tenants) on one instance: the money side of the operator API shows
and changes each one's own only. Tenant X's admin tries Y's tariffs, EVSE, location and
default tariff, payments, refunds, receipts, invoices, fleet accounts, reports,
reconciliation, cards and webhook endpoints; each answer is the one for a resource that does
not exist, and nothing of Y's changes or reaches the PSP.

The real app over ASGI and a real migrated database; the rows are written through the ORM
and the services. The one stand-in is the PSP, a small class recording the refunds sent to it.
"""

from __future__ import annotations

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

from app.billing.invoices.service import InvoiceService
from app.billing.models import FleetAccount, FleetToken
from app.chargers.models import ChargePoint, Evse, Location
from app.core.database import create_engine
from app.core.settings import Settings
from app.drivers.models import IdToken
from app.main import create_app
from app.notify.operator_webhooks import WebhookDispatcher
from app.operators.models import Operator
from app.operators.webhooks.models import WebhookDelivery, WebhookEndpoint
from app.sessions.models import Transaction
from app.tariffs.models import Tariff, TariffAssignment
from app.tariffs.pricing import Reading, TariffTerms, Usage, price
from app.tariffs.service import TariffService
from payments.events import PaymentSettled
from payments.models import Payment, Refund
from payments.provider import Outcome, SettlementLine
from payments.registry import Providers
from tests.e2e.test_api import problem, running
from tests.support import create_staff

OPS = "/api/v1/operator"
PASSWORD = "tenant-password-1"
STOPPED = datetime(2025, 10, 3, 17, 30, tzinfo=UTC)
REPORT_RANGE = {"from": "2025-10-01T00:00:00Z", "to": "2025-11-01T00:00:00Z"}
_numbers = itertools.count(1)


class RecordingPsp:
    """The PSP: records every refund sent to it, answers each as done; settlement lines as told."""

    name = "stripe"

    def __init__(self) -> None:
        self.refunds: list[tuple[str, int]] = []
        self.lines: list[SettlementLine] = []

    async def refund(self, provider_ref: str, amount_minor: int, currency: str, *, idempotency_key: str) -> Outcome:
        self.refunds.append((provider_ref, amount_minor))
        return Outcome(status="done", provider_ref=provider_ref, action_ref=f"re_{len(self.refunds)}")

    async def settlements(self, since: datetime, until: datetime) -> list[SettlementLine]:
        return list(self.lines)

    async def payment_method(self, provider_ref: str) -> None:
        return None


@dataclass
class Tenant:
    """One operator company and one of each money thing it owns; ``name`` marks its rows."""

    name: str
    operator_id: uuid.UUID
    location_id: uuid.UUID
    location_name: str
    charger_identity: str
    evse_pk: uuid.UUID
    evse_code: str
    tariff_id: uuid.UUID
    transaction_id: uuid.UUID
    payment_id: uuid.UUID
    provider_ref: str
    hold_payment_id: uuid.UUID
    account_id: uuid.UUID
    invoice_id: uuid.UUID
    card: str
    webhook_id: uuid.UUID
    headers: dict[str, str]


@dataclass
class World:
    client: httpx.AsyncClient
    app: Any
    maker: async_sessionmaker[AsyncSession]
    psp: RecordingPsp
    x: Tenant
    y: Tenant

    async def get(self, path: str, who: Tenant, **params: Any) -> httpx.Response:
        return await self.client.get(f"{OPS}{path}", params=params, headers=who.headers)

    async def send(self, method: str, path: str, who: Tenant, body: Any = None) -> httpx.Response:
        return await self.client.request(method, f"{OPS}{path}", json=body, headers=who.headers)


def _terms(name: str, kwh_minor: int) -> TariffTerms:
    return TariffTerms(
        name=name,
        currency="SEK",
        price_per_kwh_minor=kwh_minor,
        session_fee_minor=500,
        vat_rate_bp=2500,
        hold_amount_minor=30000,
        time_zone="Europe/Stockholm",
    )


def _session(cp: ChargePoint, terms: TariffTerms, token: str, energy_wh: float) -> Transaction:
    """A completed session priced the way the backend prices one."""
    n = next(_numbers)
    started = STOPPED - timedelta(minutes=40)
    cost = price(
        terms,
        Usage(
            started_at=started,
            readings=(Reading(at=started, energy_wh=0), Reading(at=STOPPED, energy_wh=energy_wh)),
            ended_at=STOPPED,
        ),
    )
    return Transaction(
        number=700_000 + n,
        charge_point_id=cp.id,
        charger_transaction_id=f"tenant-{n}",
        evse_number=1,
        connector_number=1,
        id_token=token,
        status="completed",
        started_at=started,
        stopped_at=STOPPED,
        energy_wh=energy_wh,
        tariff_snapshot=terms.to_dict(),
        cost=msgspec.to_builtins(cost),
        cost_currency=cost.currency,
        cost_minor=cost.total_minor,
        cost_vat_minor=cost.vat_minor,
        priced_at=STOPPED,
    )


def _payment(operator: Operator, evse: Evse, terms: TariffTerms, tx: Transaction | None, status: str) -> Payment:
    n = next(_numbers)
    captured = tx.cost_minor or 0 if tx is not None and status != "authorised" else 0
    return Payment(
        operator_id=operator.id,
        provider="stripe",
        provider_ref=f"pi_tenant_{n}",
        status=status,
        currency="SEK",
        hold_minor=terms.hold_amount_minor,
        amount_due_minor=tx.cost_minor if tx is not None else None,
        captured_minor=captured,
        refunded_minor=100 if status == "partially_refunded" else 0,
        evse_id=evse.id,
        id_token=f"pay-tenant-{n}",
        transaction_id=tx.id if tx is not None else None,
        tariff_snapshot=terms.to_dict(),
        method_brand="visa",
        method_last4="4242",
        authorised_at=STOPPED - timedelta(minutes=41),
        settled_at=STOPPED if status != "authorised" else None,
    )


async def build_tenant(app: Any, client: httpx.AsyncClient, name: str, party: str, kwh_minor: int) -> Tenant:
    """Operator ``name`` with a location, a charger and its EVSE, a tariff on that EVSE, a
    card payment (captured, 100 refunded) for a session, a hold, a fleet account with a card
    and its October invoice, an operator card, a webhook endpoint with a delivery, an admin."""
    maker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    terms = _terms(f"{name} Standard", kwh_minor)
    async with maker() as db:
        operator = Operator(name=f"{name} Laddning AB", country_code="SE", party_id=party)
        db.add(operator)
        await db.flush()
        location = Location(operator_id=operator.id, name=f"{name} Garage", address="Gatan 1", city="Stockholm")
        db.add(location)
        await db.flush()
        cp = ChargePoint(
            number=8000 + next(_numbers),
            identity=f"{party}-CP-1",
            operator_id=operator.id,
            location_id=location.id,
            password_hash="x",
        )
        db.add(cp)
        await db.flush()
        evse = Evse(charge_point_id=cp.id, evse_number=1, evse_id=f"SE*{party}*E1*1")
        db.add(evse)
        await db.commit()

        tariffs = TariffService(db, app.state.bus)
        tariff = await tariffs.create(terms, operator_id=operator.id)
        await tariffs.assign("evse", evse.id, tariff.id)

        tx = _session(cp, terms, f"{party}-CARD", 10_000)
        running = _session(cp, terms, f"{party}-HOLD", 1_000)
        running.status, running.stopped_at = "active", None
        db.add_all([tx, running])
        await db.flush()
        paid = _payment(operator, evse, terms, tx, "partially_refunded")
        hold = _payment(operator, evse, terms, running, "authorised")
        db.add_all([paid, hold])
        await db.flush()
        db.add(
            Refund(
                payment_id=paid.id,
                seq=1,
                amount_minor=100,
                reason=f"{name} refund",
                status="succeeded",
                provider_ref=f"re_{party}_1",
                created_at=STOPPED + timedelta(hours=1),
            )
        )
        account = FleetAccount(
            operator_id=operator.id,
            name=f"{name} Fleet AB",
            billing_email=f"fleet@{party.lower()}.test",
            currency="SEK",
        )
        db.add(account)
        await db.flush()
        db.add(FleetToken(id_token=f"{party}-FLEET", fleet_account_id=account.id))
        db.add(_session(cp, terms, f"{party}-FLEET", 20_000))
        db.add(IdToken(token=f"{party}-RFID", operator_id=operator.id))
        endpoint = WebhookEndpoint(
            operator_id=operator.id, url=f"https://hooks.{party.lower()}.test/in", secret_sealed="sealed", events=[]
        )
        db.add(endpoint)
        await db.flush()
        db.add(
            WebhookDelivery(
                endpoint_id=endpoint.id, type="payment.settled", payload="{}", state="delivered", attempts=1
            )
        )
        await db.commit()
        invoice, _ = await InvoiceService(db).issue(account.id, "2025-10")
        email = f"admin@{party.lower()}.test"
        await create_staff(db, email, PASSWORD, operator_id=operator.id)
        tenant = Tenant(
            name=name,
            operator_id=operator.id,
            location_id=location.id,
            location_name=location.name,
            charger_identity=cp.identity,
            evse_pk=evse.id,
            evse_code=evse.evse_id,
            tariff_id=tariff.id,
            transaction_id=tx.id,
            payment_id=paid.id,
            provider_ref=paid.provider_ref or "",
            hold_payment_id=hold.id,
            account_id=account.id,
            invoice_id=invoice.id,
            card=f"{party}-RFID",
            webhook_id=endpoint.id,
            headers={},
        )
    r = await client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    tenant.headers = {"Authorization": f"Bearer {r.json()['accessToken']}"}
    return tenant


@pytest.fixture(scope="module")
async def world(settings: Settings) -> AsyncIterator[World]:
    engine = create_engine(settings.db)
    psp = RecordingPsp()
    app = create_app(settings, engine=engine, providers=Providers(settings.payments, {"stripe": psp}))  # type: ignore[dict-item]
    transport = httpx.ASGITransport(app=app)
    async with running(app), httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        x = await build_tenant(app, client, "Xenon", "XEN", 300)
        y = await build_tenant(app, client, "Ylva", "YLV", 777)
        yield World(client, app, app.state.sessionmaker, psp, x, y)
    await engine.dispose()


def not_found_like_a_random_id(r: httpx.Response, random: httpx.Response, code: str) -> None:
    """Another tenant's resource answers exactly as one that does not exist."""
    problem(random, 404, code)
    body = problem(r, 404, code)
    assert (body["type"], body["title"]) == (random.json()["type"], random.json()["title"])


# -- tariffs ------------------------------------------------------------------------------------


async def test_x_cannot_read_rename_or_quote_ys_tariff(world: World) -> None:
    x, y = world.x, world.y
    not_found_like_a_random_id(
        await world.get(f"/tariffs/{y.tariff_id}", x),
        await world.get(f"/tariffs/{uuid.uuid4()}", x),
        "tariff.not_found",
    )
    problem(await world.send("PATCH", f"/tariffs/{y.tariff_id}", x, {"name": "Hijacked"}), 404, "tariff.not_found")
    quote = {"startAt": "2025-10-03T12:00:00Z", "chargingMinutes": 30, "energyKwh": 10}
    problem(await world.send("POST", f"/tariffs/{y.tariff_id}/quote", x, quote), 404, "tariff.not_found")
    listed = (await world.get("/tariffs", x)).json()
    assert str(x.tariff_id) in {t["id"] for t in listed["items"]}
    assert {t["operatorId"] for t in listed["items"]} == {str(x.operator_id)}
    assert listed["total"] == len(listed["items"])
    async with world.maker() as db:
        tariff = await db.get(Tariff, y.tariff_id)
        assert tariff is not None and (tariff.name, tariff.version) == ("Ylva Standard", 1)
    assert (await world.get(f"/tariffs/{y.tariff_id}", y)).status_code == 200


async def test_x_cannot_put_its_tariff_on_ys_evse_or_location(world: World) -> None:
    x, y = world.x, world.y
    body = {"tariffId": str(x.tariff_id)}
    problem(await world.send("PUT", f"/evses/{y.evse_code}/tariff", x, body), 404, "tariff.target_not_found")
    problem(await world.send("PUT", f"/locations/{y.location_id}/tariff", x, body), 404, "tariff.target_not_found")
    problem(await world.send("DELETE", f"/evses/{y.evse_code}/tariff", x), 404, "tariff.target_not_found")
    problem(await world.send("DELETE", f"/locations/{y.location_id}/tariff", x), 404, "tariff.target_not_found")
    problem(await world.get(f"/evses/{y.evse_code}/tariff", x), 404, "tariff.target_not_found")
    async with world.maker() as db:
        assignments = (await db.scalars(select(TariffAssignment).where(TariffAssignment.target_id == y.evse_pk))).all()
        assert [a.tariff_id for a in assignments] == [y.tariff_id]
        assert await db.scalar(select(TariffAssignment).where(TariffAssignment.target_id == y.location_id)) is None
    mine = await world.get(f"/evses/{y.evse_code}/tariff", y)
    assert mine.status_code == 200 and mine.json()["tariff"]["id"] == str(y.tariff_id)


async def test_x_cannot_make_its_tariff_ys_default(world: World) -> None:
    x, y = world.x, world.y
    body = {"tariffId": str(x.tariff_id)}
    problem(await world.send("PUT", f"/operators/{y.operator_id}/tariff", x, body), 404, "tariff.target_not_found")
    problem(await world.send("DELETE", f"/operators/{y.operator_id}/tariff", x), 404, "tariff.target_not_found")
    async with world.maker() as db:
        assert await db.scalar(select(TariffAssignment).where(TariffAssignment.target_id == y.operator_id)) is None
    own = await world.send("PUT", f"/operators/{x.operator_id}/tariff", x, body)
    assert own.status_code == 200, own.text
    assert (await world.send("DELETE", f"/operators/{x.operator_id}/tariff", x)).status_code == 204


async def test_x_cannot_put_ys_tariff_on_its_own_evse(world: World) -> None:
    x, y = world.x, world.y
    r = await world.send("PUT", f"/evses/{x.evse_code}/tariff", x, {"tariffId": str(y.tariff_id)})
    problem(r, 404, "tariff.not_found")
    r = await world.send("PUT", f"/locations/{x.location_id}/tariff", x, {"tariffId": str(y.tariff_id)})
    problem(r, 404, "tariff.not_found")
    async with world.maker() as db:
        assignment = await db.scalar(select(TariffAssignment).where(TariffAssignment.target_id == x.evse_pk))
        assert assignment is not None and assignment.tariff_id == x.tariff_id


async def test_a_new_tariff_belongs_to_the_callers_company(world: World) -> None:
    body = {"name": "Night", "currency": "SEK", "pricePerKwhMinor": 200, "vatRateBp": 2500}
    r = await world.send("POST", "/tariffs", world.x, body)
    assert r.status_code == 201, r.text
    assert r.json()["operatorId"] == str(world.x.operator_id)
    problem(await world.get(f"/tariffs/{r.json()['id']}", world.y), 404, "tariff.not_found")


# -- payments and refunds -------------------------------------------------------------------------


async def test_x_cannot_list_or_read_ys_payments(world: World) -> None:
    x, y = world.x, world.y
    listed = (await world.get("/payments", x)).json()
    ids = {p["id"] for p in listed["items"]}
    assert ids == {str(x.payment_id), str(x.hold_payment_id)} and listed["total"] == 2
    not_found_like_a_random_id(
        await world.get(f"/payments/{y.payment_id}", x),
        await world.get(f"/payments/{uuid.uuid4()}", x),
        "payment.not_found",
    )
    assert (await world.get(f"/payments/{y.payment_id}", y)).status_code == 200


async def test_x_cannot_refund_ys_payment_and_nothing_reaches_the_psp(world: World) -> None:
    x, y = world.x, world.y
    before = list(world.psp.refunds)
    r = await world.send("POST", f"/payments/{y.payment_id}/refunds", x, {"amountMinor": 200})
    problem(r, 404, "payment.not_found")
    assert world.psp.refunds == before
    async with world.maker() as db:
        payment = await db.get(Payment, y.payment_id)
        assert payment is not None and (payment.refunded_minor, payment.status) == (100, "partially_refunded")
        assert len((await db.scalars(select(Refund).where(Refund.payment_id == y.payment_id))).all()) == 1
    # Y itself can: the PSP is reached, so its silence above was the scoping.
    own = await world.send("POST", f"/payments/{y.payment_id}/refunds", y, {"amountMinor": 50})
    assert own.status_code == 201, own.text
    assert world.psp.refunds == [*before, (y.provider_ref, 50)]


# -- receipts -----------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["", ".html", ".pdf"])
async def test_x_cannot_read_ys_receipts(world: World, suffix: str) -> None:
    x, y = world.x, world.y
    not_found_like_a_random_id(
        await world.get(f"/payments/{y.payment_id}/receipt{suffix}", x),
        await world.get(f"/payments/{uuid.uuid4()}/receipt{suffix}", x),
        "receipt.not_found",
    )
    not_found_like_a_random_id(
        await world.get(f"/transactions/{y.transaction_id}/receipt{suffix}", x),
        await world.get(f"/transactions/{uuid.uuid4()}/receipt{suffix}", x),
        "receipt.not_found",
    )
    assert (await world.get(f"/payments/{x.payment_id}/receipt{suffix}", x)).status_code == 200
    assert (await world.get(f"/transactions/{y.transaction_id}/receipt{suffix}", y)).status_code == 200


# -- fleet accounts and invoices -------------------------------------------------------------------


async def test_x_cannot_see_or_use_ys_fleet_accounts(world: World) -> None:
    x, y = world.x, world.y
    listed = (await world.get("/fleet-accounts", x)).json()
    assert str(x.account_id) in {a["id"] for a in listed["items"]}
    assert {a["operatorId"] for a in listed["items"]} == {str(x.operator_id)}
    assert listed["total"] == len(listed["items"])
    asked_for_y = (await world.get("/fleet-accounts", x, operatorId=str(y.operator_id))).json()
    assert (asked_for_y["items"], asked_for_y["total"]) == ([], 0)
    not_found_like_a_random_id(
        await world.get(f"/fleet-accounts/{y.account_id}", x),
        await world.get(f"/fleet-accounts/{uuid.uuid4()}", x),
        "fleet.account_not_found",
    )
    r = await world.send("POST", f"/fleet-accounts/{y.account_id}/tokens", x, {"idToken": "XEN-SNEAK"})
    problem(r, 404, "fleet.account_not_found")
    r = await world.send("POST", f"/fleet-accounts/{y.account_id}/invoices", x, {"month": "2025-10"})
    problem(r, 404, "fleet.account_not_found")
    # An account for Y, made by X, is refused as for an operator that does not exist.
    body = {"name": "Sneaky AB", "billingEmail": "s@x.test", "currency": "SEK", "operatorId": str(y.operator_id)}
    r = await world.send("POST", "/fleet-accounts", x, body)
    problem(r, 422, "request.invalid", "operatorId")
    async with world.maker() as db:
        assert await db.get(FleetToken, "XEN-SNEAK") is None
        assert await db.scalar(select(FleetAccount).where(FleetAccount.name == "Sneaky AB")) is None


async def test_x_cannot_see_ys_invoices(world: World) -> None:
    x, y = world.x, world.y
    listed = (await world.get("/invoices", x)).json()
    ids = {i["id"] for i in listed["items"]}
    assert str(x.invoice_id) in ids and str(y.invoice_id) not in ids
    assert listed["total"] == len(listed["items"])
    assert str(y.account_id) not in {i["fleetAccountId"] for i in listed["items"]}
    for suffix in ("", "/invoice.pdf"):
        not_found_like_a_random_id(
            await world.get(f"/invoices/{y.invoice_id}{suffix}", x),
            await world.get(f"/invoices/{uuid.uuid4()}{suffix}", x),
            "invoice.not_found",
        )
    assert (await world.get(f"/invoices/{y.invoice_id}/invoice.pdf", y)).status_code == 200


async def test_xs_invoice_lists_no_session_on_ys_chargers_and_a_taken_card_names_no_account_of_y(
    world: World,
) -> None:
    x, y = world.x, world.y
    body = {"name": "Xenon Roamers AB", "billingEmail": "roam@xen.test", "currency": "SEK"}
    account = await world.send("POST", "/fleet-accounts", x, body)
    assert account.status_code == 201, account.text
    account_id = account.json()["id"]
    linked = await world.send("POST", f"/fleet-accounts/{account_id}/tokens", x, {"idToken": "XEN-ROAM"})
    assert linked.status_code == 201, linked.text
    async with world.maker() as db:
        chargers = {
            cp.identity: cp
            for cp in await db.scalars(
                select(ChargePoint).where(ChargePoint.identity.in_([x.charger_identity, y.charger_identity]))
            )
        }
        at_x = _session(chargers[x.charger_identity], _terms("X", 300), "XEN-ROAM", 5_000)
        at_y = _session(chargers[y.charger_identity], _terms("Y", 777), "XEN-ROAM", 6_000)
        for tx in (at_x, at_y):
            tx.started_at -= timedelta(days=30)
            tx.stopped_at = STOPPED - timedelta(days=30)  # September
        db.add_all([at_x, at_y])
        await db.commit()
    issued = await world.send("POST", f"/fleet-accounts/{account_id}/invoices", x, {"month": "2025-09"})
    assert issued.status_code == 201, issued.text
    assert [line["transactionId"] for line in issued.json()["lines"]] == [str(at_x.id)]
    assert y.evse_code not in issued.text and y.location_name not in issued.text

    taken = await world.send("POST", f"/fleet-accounts/{account_id}/tokens", x, {"idToken": "YLV-FLEET"})
    assert str(y.account_id) not in problem(taken, 409, "fleet.token_taken")["detail"]


# -- reports and reconciliation ----------------------------------------------------------------------


async def test_ys_revenue_refunds_and_holds_are_absent_from_xs_reports(world: World) -> None:
    x, y = world.x, world.y
    revenue = await world.get("/reports/revenue.csv", x, **REPORT_RANGE, groupBy="charger")
    assert revenue.status_code == 200, revenue.text
    assert x.charger_identity in revenue.text
    assert y.charger_identity not in revenue.text and y.location_name not in revenue.text
    by_location = (await world.get("/reports/revenue", x, **REPORT_RANGE)).json()
    assert {row["groupId"] for row in by_location["rows"]} == {str(x.location_id)}
    # X's paid session and X's fleet session, nothing of Y's.
    assert sum(row["sessions"] for row in by_location["rows"]) == 2

    refunds = (await world.get("/reports/refunds", x, **REPORT_RANGE)).json()
    assert {r["paymentId"] for r in refunds["items"]} == {str(x.payment_id)}
    refunds_csv = (await world.get("/reports/refunds.csv", x, **REPORT_RANGE)).text
    assert str(y.payment_id) not in refunds_csv and y.evse_code not in refunds_csv

    holds = (await world.get("/reports/holds", x)).json()
    assert {h["paymentId"] for h in holds["items"]} == {str(x.hold_payment_id)}
    holds_csv = (await world.get("/reports/holds.csv", x)).text
    assert str(y.hold_payment_id) not in holds_csv and y.location_name not in holds_csv

    own = await world.get("/reports/revenue.csv", y, **REPORT_RANGE, groupBy="charger")
    assert y.charger_identity in own.text and x.charger_identity not in own.text


async def test_reconciliation_compares_the_tenants_own_payments_only(world: World) -> None:
    x, y = world.x, world.y
    async with world.maker() as db:
        x_paid = await db.get(Payment, x.payment_id)
        y_paid = await db.get(Payment, y.payment_id)
        assert x_paid is not None and y_paid is not None
        x_amount, y_amount = x_paid.captured_minor, y_paid.captured_minor
    # The PSP settled both captures, Y's with a wrong amount: a mismatch only Y may see.
    world.psp.lines = [
        SettlementLine(
            provider_ref=x.provider_ref,
            payment_id=x.payment_id,
            kind="capture",
            amount_minor=x_amount,
            currency="SEK",
            occurred_at=STOPPED,
        ),
        SettlementLine(
            provider_ref=y.provider_ref,
            payment_id=y.payment_id,
            kind="capture",
            amount_minor=y_amount + 1,
            currency="SEK",
            occurred_at=STOPPED,
        ),
    ]
    body = {"provider": "stripe", **REPORT_RANGE}
    r = await world.send("POST", "/reconciliations", x, body)
    assert r.status_code == 200, r.text
    assert str(y.payment_id) not in r.text and y.provider_ref not in r.text
    mine = await world.send("POST", "/reconciliations", y, body)
    assert mine.status_code == 200, mine.text
    assert ("wrong_amount", str(y.payment_id)) in {(m["kind"], m["paymentId"]) for m in mine.json()["mismatches"]}


# -- operator cards ----------------------------------------------------------------------------------


async def test_x_sees_and_registers_only_its_own_cards(world: World) -> None:
    x, y = world.x, world.y
    listed = (await world.get("/id-tokens", x)).json()
    tokens = [t["token"] for t in listed["items"]]
    assert x.card in tokens and all(t.startswith("XEN-") for t in tokens)
    assert listed["total"] == len(listed["items"])
    r = await world.send("POST", "/id-tokens", x, {"token": "XEN-NEW-CARD"})
    assert r.status_code == 201, r.text
    async with world.maker() as db:
        card = await db.scalar(select(IdToken).where(IdToken.token == "XEN-NEW-CARD"))
        assert card is not None and card.operator_id == x.operator_id
    assert "XEN-NEW-CARD" not in (await world.get("/id-tokens", y)).text


# -- webhooks ----------------------------------------------------------------------------------------


async def test_every_webhook_operation_on_ys_endpoint_is_not_found_for_x(world: World) -> None:
    x, y = world.x, world.y
    cases = [
        ("GET", "", None),
        ("PATCH", "", {"description": "mine now"}),
        ("GET", "/deliveries", None),
        ("POST", "/rotate-secret", None),
        ("POST", "/test", None),
        ("DELETE", "", None),
    ]
    for method, suffix, body in cases:
        r = await world.send(method, f"/webhooks/{y.webhook_id}{suffix}", x, body)
        random = await world.send(method, f"/webhooks/{uuid.uuid4()}{suffix}", x, body)
        not_found_like_a_random_id(r, random, "webhook.not_found")
    assert str(y.webhook_id) not in (await world.get("/webhooks", x)).text
    async with world.maker() as db:
        endpoint = await db.get(WebhookEndpoint, y.webhook_id)
        assert endpoint is not None and (endpoint.description, endpoint.secret_sealed) == ("", "sealed")
        deliveries = await db.scalars(select(WebhookDelivery).where(WebhookDelivery.endpoint_id == y.webhook_id))
        assert len(deliveries.all()) == 1


async def test_a_payment_event_goes_to_its_own_tenants_endpoints_only(world: World) -> None:
    y = world.y
    async with world.maker() as db:
        # An endpoint of no company (from before tenants) could be anyone's: it gets nothing.
        orphan = WebhookEndpoint(operator_id=None, url="https://hooks.orphan.test/in", secret_sealed="s", events=[])
        db.add(orphan)
        await db.commit()
        payment = await db.get(Payment, y.payment_id)
        assert payment is not None
        event = PaymentSettled(
            payment_id=payment.id,
            status=payment.status,
            captured_minor=payment.captured_minor,
            currency=payment.currency,
            transaction_id=payment.transaction_id,
        )
    async with world.maker() as db:
        before = set(await db.scalars(select(WebhookDelivery.id)))
    dispatcher = WebhookDispatcher(world.maker, world.app.state.bus, world.app.state.webhook_worker)
    assert await dispatcher.dispatch(event) == 1
    async with world.maker() as db:
        rows = await db.execute(select(WebhookDelivery.id, WebhookDelivery.endpoint_id))
        targets = [endpoint_id for delivery_id, endpoint_id in rows if delivery_id not in before]
    assert targets == [y.webhook_id]


# -- roles --------------------------------------------------------------------------------------------


async def test_a_read_only_user_reads_money_but_cannot_change_it(world: World) -> None:
    x = world.x
    async with world.maker() as db:
        await create_staff(db, "reader@xen.test", PASSWORD, role="read_only", operator_id=x.operator_id)
    r = await world.client.post("/api/v1/auth/token", json={"email": "reader@xen.test", "password": PASSWORD})
    reader = Tenant(**{**x.__dict__, "headers": {"Authorization": f"Bearer {r.json()['accessToken']}"}})
    assert (await world.get(f"/payments/{x.payment_id}", reader)).status_code == 200
    assert (await world.get(f"/tariffs/{x.tariff_id}", reader)).status_code == 200
    for method, path, body in [
        ("POST", "/tariffs", {"name": "N", "currency": "SEK", "vatRateBp": 2500}),
        ("PATCH", f"/tariffs/{x.tariff_id}", {"name": "Renamed"}),
        ("PUT", f"/evses/{x.evse_code}/tariff", {"tariffId": str(x.tariff_id)}),
        ("POST", f"/payments/{x.payment_id}/refunds", {"amountMinor": 1}),
        ("POST", "/fleet-accounts", {"name": "F", "billingEmail": "f@x.test", "currency": "SEK"}),
        ("POST", f"/fleet-accounts/{x.account_id}/tokens", {"idToken": "XEN-RO"}),
        ("POST", "/reconciliations", {"provider": "stripe", **REPORT_RANGE}),
        ("POST", "/id-tokens", {"token": "XEN-RO-CARD"}),
        ("DELETE", f"/webhooks/{x.webhook_id}", None),
    ]:
        problem(await world.send(method, path, reader, body), 403, "auth.forbidden")
