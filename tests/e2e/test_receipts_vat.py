"""Receipts as simplified VAT invoices (förenklad faktura, ML 17 kap. / VAT Directive art.
226b), over the real API and a real migrated database (SQLite, or PostgreSQL with
LADDNAT_TEST_DATABASE_URL): the seller's legal name, address and VAT number, a gapless
receipt number series per tenant, a credit note per refund that corrects the VAT, and one
rounding rule for the charging time.

The network, sessions and payments are rows written through the ORM (fixture data); the
only stand-in is the PSP's side of a refund (``RefundingPsp``).
"""

from __future__ import annotations

import asyncio
import itertools
import re
import uuid
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.billing.invoices.numbering import document_number
from app.billing.receipts.issue import issue_documents
from app.billing.receipts.models import ReceiptDocument
from app.billing.receipts.render import minutes_text, render_credit_note_pdf, render_receipt_pdf
from app.billing.receipts.schemas import CreditNoteOut, ReceiptOut
from app.chargers.models import ChargePoint, Evse, Location
from app.core.database import create_engine
from app.core.errors import InvalidInput
from app.core.settings import Settings
from app.drivers.service import UserService
from app.main import create_app
from app.operators.company_service import normalise_vat_number
from app.operators.models import Operator
from app.sessions.models import Transaction
from app.tariffs.pricing import Reading, TariffTerms, Usage, price, vat_of
from payments.events import PaymentSettled
from payments.models import Payment, Refund
from payments.provider import Outcome
from payments.registry import Providers
from tests.e2e.test_api import problem, running
from tests.support import create_staff

OPS = "/api/v1/operator"
PASSWORD = "receipt-password-1"
TERMS = TariffTerms(
    name="Standard",
    currency="SEK",
    price_per_kwh_minor=349,
    session_fee_minor=500,
    vat_rate_bp=2500,
    hold_amount_minor=30000,
    time_zone="Europe/Stockholm",
)
SELLER = {
    "legalName": "Laddnät Söder AB",
    "streetAddress": "Hamngatan 12",
    "postalCode": "111 47",
    "city": "Stockholm",
    "country": "se",
    "vatNumber": "se 5566778899 01",
    "orgNumber": "556677-8899",
    "contactEmail": "kvitto@laddnat-soder.se",
}
RECEIPT_NUMBER = re.compile(r"(?P<party>[A-Z0-9]{3})-R(?P<year>\d{4})-(?P<seq>\d{6})")
CREDIT_NUMBER = re.compile(r"(?P<party>[A-Z0-9]{3})-C(?P<year>\d{4})-(?P<seq>\d{6})")

_numbers = itertools.count(1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


class RefundingPsp:
    """The PSP's side of a refund: it refunds at once, as Stripe answers."""

    name = "stripe"

    def __init__(self) -> None:
        self.refunds: list[tuple[str, int]] = []

    async def refund(self, provider_ref: str, amount_minor: int, currency: str, *, idempotency_key: str) -> Outcome:
        self.refunds.append((provider_ref, amount_minor))
        return Outcome(status="done", provider_ref=provider_ref, action_ref=f"re_{len(self.refunds)}")

    async def payment_method(self, provider_ref: str) -> None:
        return None


@dataclass
class Tenant:
    operator: Operator
    evse: Evse
    headers: dict[str, str]


@dataclass
class Env:
    client: httpx.AsyncClient
    maker: async_sessionmaker[AsyncSession]
    app: Any
    a: Tenant
    b: Tenant
    psp: RefundingPsp

    async def login(self, email: str) -> dict[str, str]:
        r = await self.client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['accessToken']}"}


async def add_tenant(db: AsyncSession, name: str, party: str) -> tuple[Operator, Evse]:
    operator = Operator(name=name, country_code="SE", party_id=party)
    db.add(operator)
    await db.flush()
    location = Location(operator_id=operator.id, name=f"{name} Centrum", address="Storgatan 1", city="Åkersberga")
    db.add(location)
    await db.flush()
    cp = ChargePoint(
        number=8000 + next(_numbers),
        identity=f"VAT-{party}",
        location_id=location.id,
        operator_id=operator.id,
        password_hash="x",
    )
    db.add(cp)
    await db.flush()
    evse = Evse(charge_point_id=cp.id, evse_number=1, evse_id=f"SE*{party}*E0001*1")
    db.add(evse)
    await db.commit()
    return operator, evse


async def paid_session(
    maker: async_sessionmaker[AsyncSession],
    tenant: Tenant,
    *,
    energy_wh: float = 12_345,
    seconds: int = 2400,
    terms: TariffTerms = TERMS,
    user_id: uuid.UUID | None = None,
    status: str = "captured",
) -> Payment:
    """A priced session (priced the way the backend prices one) and its captured payment."""
    n = next(_numbers)
    stopped_at = utc(2026, 10, 3, 17, 30) + timedelta(minutes=n)
    started_at = stopped_at - timedelta(seconds=seconds)
    cost = price(
        terms,
        Usage(
            started_at=started_at,
            readings=(Reading(at=started_at, energy_wh=0), Reading(at=stopped_at, energy_wh=energy_wh)),
            ended_at=stopped_at,
        ),
    )
    async with maker() as db:
        cp_id = await db.scalar(select(Evse.charge_point_id).where(Evse.id == tenant.evse.id))
        assert cp_id is not None
        tx = Transaction(
            number=200_000 + n,
            charge_point_id=cp_id,
            charger_transaction_id=f"vat-{n}",
            evse_number=1,
            connector_number=1,
            id_token=f"PVAT{n:08d}",
            status="completed",
            started_at=started_at,
            stopped_at=stopped_at,
            energy_wh=energy_wh,
            tariff_snapshot=terms.to_dict(),
            cost=msgspec.to_builtins(cost),
            cost_currency=cost.currency,
            cost_minor=cost.total_minor,
            cost_vat_minor=cost.vat_minor,
            priced_at=stopped_at,
        )
        db.add(tx)
        await db.flush()
        payment = Payment(
            operator_id=tenant.operator.id,
            provider="stripe",
            provider_ref=f"pi_vat_{n}",
            status=status,
            currency="SEK",
            hold_minor=terms.hold_amount_minor,
            amount_due_minor=cost.total_minor,
            captured_minor=min(cost.total_minor, terms.hold_amount_minor),
            evse_id=tenant.evse.id,
            id_token=f"PVAT{n:08d}",
            transaction_id=tx.id,
            tariff_snapshot=terms.to_dict(),
            user_id=user_id,
            method_brand="visa",
            method_last4="4242",
            settled_at=stopped_at,
            capture_confirmed_at=stopped_at,
        )
        db.add(payment)
        await db.commit()
        return payment


@pytest.fixture(scope="module")
async def env(settings: Settings) -> AsyncIterator[Env]:
    engine = create_engine(settings.db)
    psp = RefundingPsp()
    app = create_app(settings, engine=engine, providers=Providers(settings.payments, {"stripe": psp}))  # type: ignore[dict-item]
    maker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    tenants = []
    async with maker() as db:
        for name, party in (("Laddnät Söder", "LAD"), ("Grannladd", "GRN")):
            operator, evse = await add_tenant(db, name, party)
            await create_staff(db, f"admin@{party.lower()}.se", PASSWORD, "admin", operator.id)
            tenants.append((operator, evse))
    transport = httpx.ASGITransport(app=app)
    async with running(app), httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        made = []
        for operator, evse in tenants:
            r = await client.post(
                "/api/v1/auth/token", json={"email": f"admin@{operator.party_id.lower()}.se", "password": PASSWORD}
            )
            assert r.status_code == 200, r.text
            made.append(Tenant(operator, evse, {"Authorization": f"Bearer {r.json()['accessToken']}"}))
        e = Env(client, maker, app, made[0], made[1], psp)
        r = await client.patch(f"{OPS}/company", json=SELLER, headers=e.a.headers)
        assert r.status_code == 200, r.text
        yield e
    await engine.dispose()


def pdf_text(pdf: bytes) -> str:
    """The text of a PDF drawn with the core fonts: its content streams, inflated."""
    out = []
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            out.append(zlib.decompress(match.group(1)).decode("latin-1"))
        except zlib.error:
            out.append(match.group(1).decode("latin-1"))
    return "\n".join(out)


# -- the seller's details ----------------------------------------------------------------------


async def test_the_tenant_keeps_its_seller_details_and_only_an_admin_changes_them(env: Env) -> None:
    r = await env.client.get(f"{OPS}/company", headers=env.a.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["legalName"] == "Laddnät Söder AB" and body["partyId"] == "LAD"
    # Stored the way a receipt prints them.
    assert body["vatNumber"] == "SE556677889901" and body["country"] == "SE"
    # The other tenant has its own, still unset.
    other = (await env.client.get(f"{OPS}/company", headers=env.b.headers)).json()
    assert other["partyId"] == "GRN" and other["legalName"] is None and other["vatNumber"] is None

    problem(
        await env.client.patch(f"{OPS}/company", json={"vatNumber": "SE12345"}, headers=env.b.headers),
        422,
        "request.invalid",
        "vatNumber",
    )
    async with env.maker() as db:
        await create_staff(db, "finance@grn.se", PASSWORD, "finance", env.b.operator.id)
    finance = await env.login("finance@grn.se")
    problem(
        await env.client.patch(f"{OPS}/company", json={"legalName": "Not Allowed AB"}, headers=finance),
        403,
        "auth.forbidden",
    )
    assert (await env.client.get(f"{OPS}/company", headers=finance)).json()["legalName"] is None


# -- receipts ----------------------------------------------------------------------------------


async def test_the_receipt_is_a_simplified_vat_invoice_in_json_html_and_pdf(env: Env) -> None:
    payment = await paid_session(env.maker, env.a)
    r = await env.client.get(f"{OPS}/payments/{payment.id}/receipt", headers=env.a.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    seller = body["seller"]
    assert seller["legalName"] == "Laddnät Söder AB"
    assert (seller["streetAddress"], seller["postalCode"], seller["city"], seller["country"]) == (
        "Hamngatan 12",
        "111 47",
        "Stockholm",
        "SE",
    )
    assert seller["vatNumber"] == "SE556677889901"
    number = RECEIPT_NUMBER.fullmatch(body["receiptNumber"])
    assert number is not None and number["party"] == "LAD", body["receiptNumber"]
    assert body["issuedAt"]
    # The VAT amount and the data to compute it: rate and the total including VAT.
    [vat] = body["vat"]
    assert vat["rateBp"] == 2500 and vat["grossMinor"] == body["capturedMinor"]
    assert vat["vatMinor"] == vat_of(body["capturedMinor"], 2500)
    assert body["creditNotes"] == []

    # Issued once: the same number on every read and by either path.
    again = await env.client.get(f"{OPS}/transactions/{payment.transaction_id}/receipt", headers=env.a.headers)
    assert again.json()["receiptNumber"] == body["receiptNumber"]

    html = (await env.client.get(f"{OPS}/payments/{payment.id}/receipt.html", headers=env.a.headers)).text
    for text in ("Laddnät Söder AB", "Hamngatan 12", "111 47 Stockholm", "SE556677889901", body["receiptNumber"]):
        assert text in html, text
    assert "Simplified VAT invoice" in html and "Date of issue" in html

    pdf = await env.client.get(f"{OPS}/payments/{payment.id}/receipt.pdf", headers=env.a.headers)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    # The same receipt drawn with the core fonts, whose text can be read back.
    text = pdf_text(render_receipt_pdf(msgspec.json.decode(r.content, type=ReceiptOut), use_unicode_font=False))
    for part in ("Laddn\xe4t S\xf6der AB", "Hamngatan 12", "SE556677889901", body["receiptNumber"]):
        assert part in text, part


async def test_a_receipt_of_a_tenant_without_seller_details_still_renders(env: Env) -> None:
    payment = await paid_session(env.maker, env.b)
    r = await env.client.get(f"{OPS}/payments/{payment.id}/receipt", headers=env.b.headers)
    assert r.status_code == 200, r.text
    assert r.json()["seller"]["legalName"] == "" and RECEIPT_NUMBER.fullmatch(r.json()["receiptNumber"])
    html = await env.client.get(f"{OPS}/payments/{payment.id}/receipt.html", headers=env.b.headers)
    assert html.status_code == 200 and "Grannladd" in html.text


async def test_the_receipt_is_issued_when_the_payment_is_captured(env: Env) -> None:
    payment = await paid_session(env.maker, env.a)
    env.app.state.bus.publish(
        PaymentSettled(
            payment_id=payment.id,
            status="captured",
            captured_minor=payment.captured_minor,
            currency="SEK",
            transaction_id=payment.transaction_id,
        )
    )
    for _ in range(200):  # the subscriber runs in the background; no read has asked for it
        async with env.maker() as db:
            doc = await db.scalar(select(ReceiptDocument).where(ReceiptDocument.payment_id == payment.id))
        if doc is not None:
            break
        await asyncio.sleep(0.05)
    assert doc is not None and doc.kind == "receipt" and doc.gross_minor == payment.captured_minor
    body = (await env.client.get(f"{OPS}/payments/{payment.id}/receipt", headers=env.a.headers)).json()
    assert body["receiptNumber"] == doc.number


async def test_receipt_numbers_are_gapless_per_tenant_when_issued_at_once(env: Env) -> None:
    async def sequences(operator: Operator) -> list[int]:
        async with env.maker() as db:
            rows = await db.scalars(
                select(ReceiptDocument.sequence)
                .where(ReceiptDocument.operator_id == operator.id, ReceiptDocument.kind == "receipt")
                .order_by(ReceiptDocument.sequence)
            )
            return list(rows)

    before_a, before_b = len(await sequences(env.a.operator)), len(await sequences(env.b.operator))
    payments_a = [await paid_session(env.maker, env.a) for _ in range(8)]
    payments_b = [await paid_session(env.maker, env.b) for _ in range(4)]

    async def issue(payment_id: uuid.UUID) -> int:
        async with env.maker() as db:
            return await issue_documents(db, payment_id)

    # Each payment twice, all at once: one issuer wins per payment, the other issues nothing
    # (on PostgreSQL it waits on the payment's row lock; on SQLite its insert fails and the
    # rollback gives its number back).
    ids = [p.id for p in payments_a + payments_b] * 2
    issued = await asyncio.gather(*(issue(i) for i in ids))
    assert sum(issued) == len(payments_a) + len(payments_b)

    # Over the API too, at once, each payment's receipt read concurrently.
    reads = await asyncio.gather(
        *(env.client.get(f"{OPS}/payments/{p.id}/receipt", headers=env.a.headers) for p in payments_a)
    )
    assert len({r.json()["receiptNumber"] for r in reads}) == len(payments_a)

    seq_a, seq_b = await sequences(env.a.operator), await sequences(env.b.operator)
    assert seq_a == list(range(1, before_a + len(payments_a) + 1))
    assert seq_b == list(range(1, before_b + len(payments_b) + 1))
    async with env.maker() as db:
        numbers = list(await db.scalars(select(ReceiptDocument.number)))
    assert len(numbers) == len(set(numbers))


async def test_a_rolled_back_issue_consumes_no_number(env: Env) -> None:
    first = await paid_session(env.maker, env.b)
    async with env.maker() as db:
        await issue_documents(db, first.id)
        before = await db.scalar(select(ReceiptDocument).where(ReceiptDocument.payment_id == first.id))
    assert before is not None
    # A payment that is no longer paid when the issuer gets to it issues nothing.
    unpaid = await paid_session(env.maker, env.b, status="authorised")
    async with env.maker() as db:
        assert await issue_documents(db, unpaid.id) == 0
    # An issue that fails after taking its number (its insert breaks: a row squats on the
    # number) rolls back and gives the number back.
    year = int(before.number.split("-R")[1][:4])
    squatter = ReceiptDocument(
        operator_id=env.b.operator.id,
        payment_id=first.id,
        refund_seq=99,
        kind="credit_note",
        number=document_number("receipt", "GRN", year, before.sequence + 1),
        sequence=0,
        issued_at=before.issued_at,
        currency="SEK",
        vat_rate_bp=2500,
        gross_minor=0,
        vat_minor=0,
        net_minor=0,
        seller={},
    )
    broken = await paid_session(env.maker, env.b)
    async with env.maker() as db:
        db.add(squatter)
        await db.commit()
        with pytest.raises(IntegrityError):
            await issue_documents(db, broken.id)
        await db.rollback()
        await db.execute(delete(ReceiptDocument).where(ReceiptDocument.refund_seq == 99))
        await db.commit()
    nxt = await paid_session(env.maker, env.b)
    async with env.maker() as db:
        await issue_documents(db, broken.id)
        await issue_documents(db, nxt.id)
        seqs = [
            await db.scalar(select(ReceiptDocument.sequence).where(ReceiptDocument.payment_id == p.id))
            for p in (broken, nxt)
        ]
    assert seqs == [before.sequence + 1, before.sequence + 2]


# -- credit notes ------------------------------------------------------------------------------


async def test_a_refund_issues_a_credit_note_that_corrects_the_vat(env: Env) -> None:
    async with env.maker() as db:
        driver = await UserService(db).create_user("driver-vat@example.se", PASSWORD, "driver")
        stranger = await UserService(db).create_user("stranger-vat@example.se", PASSWORD, "driver")
    payment = await paid_session(env.maker, env.a, user_id=driver.id)
    receipt = (await env.client.get(f"{OPS}/payments/{payment.id}/receipt", headers=env.a.headers)).json()
    captured, receipt_vat = receipt["capturedMinor"], receipt["vat"][0]["vatMinor"]

    refund = f"{OPS}/payments/{payment.id}/refunds"
    r = await env.client.post(refund, json={"amountMinor": 1001, "reason": "slow charging"}, headers=env.a.headers)
    assert r.status_code == 201, r.text
    note = await env.client.get(f"{OPS}/payments/{payment.id}/refunds/1/credit-note", headers=env.a.headers)
    assert note.status_code == 200, note.text
    first = note.json()
    assert CREDIT_NUMBER.fullmatch(first["number"]) and first["originalReceiptNumber"] == receipt["receiptNumber"]
    assert first["totalMinor"] == -1001
    assert first["vat"] == [
        {"rateBp": 2500, "netMinor": -1001 + vat_of(1001, 2500), "vatMinor": -vat_of(1001, 2500), "grossMinor": -1001}
    ]
    assert first["correctedGrossMinor"] == captured - 1001
    assert first["correctedVatMinor"] == receipt_vat - vat_of(1001, 2500)
    assert first["seller"]["vatNumber"] == "SE556677889901"

    # The rest: the last credit note leaves no VAT standing, whatever the rounding before.
    r = await env.client.post(refund, json={}, headers=env.a.headers)
    assert r.status_code == 201, r.text
    second = (await env.client.get(f"{OPS}/payments/{payment.id}/refunds/2/credit-note", headers=env.a.headers)).json()
    assert second["totalMinor"] == -(captured - 1001)
    assert second["correctedGrossMinor"] == 0 and second["correctedVatMinor"] == 0
    a, b = CREDIT_NUMBER.fullmatch(first["number"]), CREDIT_NUMBER.fullmatch(second["number"])
    assert a is not None and b is not None and int(b["seq"]) == int(a["seq"]) + 1

    body = (await env.client.get(f"{OPS}/payments/{payment.id}/receipt", headers=env.a.headers)).json()
    assert [(c["refundSeq"], c["number"]) for c in body["creditNotes"]] == [
        (1, first["number"]),
        (2, second["number"]),
    ]
    assert sum(c["vatMinor"] for c in body["creditNotes"]) == -receipt_vat

    html = await env.client.get(f"{OPS}/payments/{payment.id}/refunds/1/credit-note.html", headers=env.a.headers)
    for text in ("Credit note", first["number"], receipt["receiptNumber"], "SE556677889901", "-10.01 SEK"):
        assert text in html.text, text
    pdf = await env.client.get(f"{OPS}/payments/{payment.id}/refunds/1/credit-note.pdf", headers=env.a.headers)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    text = pdf_text(
        render_credit_note_pdf(msgspec.json.decode(note.content, type=CreditNoteOut), use_unicode_font=False)
    )
    for part in (first["number"], receipt["receiptNumber"], "SE556677889901", "-10.01 SEK"):
        assert part in text, part

    # The driver gets their own; another driver and another tenant get a 404.
    mine = await env.login("driver-vat@example.se")
    got = await env.client.get(f"/api/v1/sessions/{payment.id}/refunds/1/credit-note", headers=mine)
    assert got.status_code == 200, got.text
    assert got.json()["number"] == first["number"]
    own = f"/api/v1/sessions/{payment.id}/refunds"
    assert (await env.client.get(f"{own}/2/credit-note.pdf", headers=mine)).content.startswith(b"%PDF")
    other = await env.login("stranger-vat@example.se")
    problem(await env.client.get(f"{own}/1/credit-note", headers=other), 404, "session.not_found")
    huge = f"{OPS}/payments/{payment.id}/refunds/99999999999999999999/credit-note"
    problem(await env.client.get(huge, headers=env.a.headers), 422, "request.invalid")
    problem(
        await env.client.get(f"{OPS}/payments/{payment.id}/refunds/1/credit-note", headers=env.b.headers),
        404,
        "credit_note.not_found",
    )
    problem(
        await env.client.get(f"{OPS}/payments/{payment.id}/refunds/3/credit-note", headers=env.a.headers),
        404,
        "credit_note.not_found",
    )
    assert stranger.id != driver.id


async def test_a_refund_the_psp_has_not_completed_has_no_credit_note_yet(env: Env) -> None:
    payment = await paid_session(env.maker, env.a)
    async with env.maker() as db:
        db.add(Refund(payment_id=payment.id, seq=1, amount_minor=500, status="requested"))
        await db.execute(
            update(Payment).where(Payment.id == payment.id).values(refunded_minor=500, status="partially_refunded")
        )
        await db.commit()
    path = f"{OPS}/payments/{payment.id}/refunds/1/credit-note"
    problem(await env.client.get(path, headers=env.a.headers), 404, "credit_note.not_found")
    assert (await env.client.get(f"{OPS}/payments/{payment.id}/receipt", headers=env.a.headers)).json()[
        "creditNotes"
    ] == []
    # The PSP's notification completes it: the next read issues the credit note.
    async with env.maker() as db:
        await db.execute(update(Refund).where(Refund.payment_id == payment.id).values(status="succeeded"))
        await db.commit()
    r = await env.client.get(path, headers=env.a.headers)
    assert r.status_code == 200, r.text
    assert r.json()["totalMinor"] == -500 and r.json()["vat"][0]["vatMinor"] == -vat_of(500, 2500)


# -- the charging time -------------------------------------------------------------------------


async def test_the_charging_time_header_and_the_minute_lines_round_alike(env: Env) -> None:
    per_minute = TariffTerms(name="Per minute", currency="SEK", price_per_minute_minor=100, vat_rate_bp=2500)
    payment = await paid_session(env.maker, env.a, energy_wh=200, seconds=30, terms=per_minute)
    body = (await env.client.get(f"{OPS}/payments/{payment.id}/receipt", headers=env.a.headers)).json()
    assert body["chargingSeconds"] == 30
    [time_line] = [line for line in body["lines"] if line["kind"] == "time"]
    assert time_line["quantity"] == 0.5
    html = (await env.client.get(f"{OPS}/payments/{payment.id}/receipt.html", headers=env.a.headers)).text
    assert "<dt>Charging time</dt><dd>0.5 min</dd>" in html
    assert ">0.5 min<" in html.split("<tbody>")[1] and "0 min" not in html.replace("0.5 min", "")


def test_minutes_round_half_up_to_the_tenth() -> None:
    assert [minutes_text(m) for m in (0.5, 0.25, 0.05, 59.96, 65.5, 0.0)] == [
        "0.5 min",
        "0.3 min",
        "0.1 min",
        "1 h 0.0 min",
        "1 h 5.5 min",
        "0.0 min",
    ]


def test_vat_numbers_are_stored_normalised_and_swedish_ones_checked() -> None:
    assert normalise_vat_number("se 5566778899 01") == "SE556677889901"
    assert normalise_vat_number("DE-123.456.789") == "DE123456789"
    for bad in ("SE5566778899", "SE556677889902", "5566778899", "S1234", "SE55667788990101"):
        with pytest.raises(InvalidInput):
            normalise_vat_number(bad)
