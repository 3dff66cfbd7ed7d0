"""Fleet accounts and their monthly invoices.

A fleet account is a business whose drivers charge on account: every completed, priced
session started with one of its id tokens goes on the account's invoice of the month the
session stopped in. Months are calendar months in UTC (a session stopping at 00:30 Swedish
time on the 1st belongs to the month before); the invoice says so.

Invoice numbers are gapless per operator and year (``LAD-2026-000001``, the party id first): the
counter is taken in the same database transaction as the insert, so a failed or empty
issue consumes no number, and on PostgreSQL the counter row lock orders concurrent issues.

VAT: each rate's VAT is extracted once from the sum of that rate's gross amounts (the way an
invoice states VAT), so per rate ``net + vat = gross`` exactly and the invoice totals are
the sums of the rate totals. A line still shows the VAT its session was priced with; the
two can differ by rounding, and the per-rate summary is what counts.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

import msgspec
from sqlalchemy import and_, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.chargers.models import ChargePoint, Evse, Location
from app.core.database import next_number, utcnow
from app.core.errors import Conflict, InvalidInput, NotFound
from app.core.http import Page
from app.operators.models import Operator
from app.sessions.models import Transaction
from app.tariffs.pricing import CURRENCIES, format_minor, vat_of
from payments.models import FleetAccount, FleetToken, Invoice, Payment
from payments.receipts import PdfDocument, local_time, percent

# -- errors ---------------------------------------------------------------------------------


class FleetAccountNotFound(NotFound):
    code = "fleet.account_not_found"
    title = "No such fleet account"


class FleetTokenTaken(Conflict):
    code = "fleet.token_taken"
    title = "The id token is already billed to another fleet account"


class InvoiceNotFound(NotFound):
    code = "invoice.not_found"
    title = "No such invoice"


class NothingToInvoice(Conflict):
    code = "invoice.nothing_to_invoice"
    title = "The account has no priced sessions in that month"


class InvoicePeriodOpen(Conflict):
    code = "invoice.period_open"
    title = "The month has not ended yet"


class InvoiceCurrencyMismatch(Conflict):
    code = "invoice.currency_mismatch"
    title = "Sessions of the month are priced in another currency than the account's"


class OperatorRequired(InvalidInput):
    code = "fleet.operator_required"
    title = "Say which operator the account belongs to"


# -- API structs ----------------------------------------------------------------------------

Month = Annotated[str, msgspec.Meta(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", examples=["2026-03"])]


class FleetAccountIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    billing_email: Annotated[str, msgspec.Meta(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")]
    currency: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")]
    organisation_number: Annotated[str, msgspec.Meta(max_length=40)] = ""
    vat_number: Annotated[str, msgspec.Meta(max_length=40)] = ""
    address: Annotated[str, msgspec.Meta(max_length=500)] = ""
    payment_terms_days: Annotated[int, msgspec.Meta(ge=0, le=365)] = 30
    # Absent: the operator the signed-in user belongs to.
    operator_id: uuid.UUID | None = None


class FleetAccountOut(msgspec.Struct, kw_only=True, rename="camel"):
    id: uuid.UUID
    operator_id: uuid.UUID
    name: str
    organisation_number: str
    vat_number: str
    billing_email: str
    address: str
    currency: str
    payment_terms_days: int
    created_at: datetime
    tokens: list[str]

    @classmethod
    def of(cls, a: FleetAccount, tokens: Sequence[str]) -> FleetAccountOut:
        return cls(
            id=a.id,
            operator_id=a.operator_id,
            name=a.name,
            organisation_number=a.organisation_number,
            vat_number=a.vat_number,
            billing_email=a.billing_email,
            address=a.address,
            currency=a.currency,
            payment_terms_days=a.payment_terms_days,
            created_at=a.created_at,
            tokens=list(tokens),
        )


class FleetAccountPageOut(Page, kw_only=True):
    items: list[FleetAccountOut]


class FleetTokenIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    id_token: Annotated[str, msgspec.Meta(min_length=1, max_length=36)]


class FleetTokenOut(msgspec.Struct, kw_only=True, rename="camel"):
    id_token: str
    fleet_account_id: uuid.UUID
    created_at: datetime


class IssueInvoiceIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    month: Month  # "YYYY-MM", a calendar month in UTC
    notes: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class InvoiceLineOut(msgspec.Struct, kw_only=True, rename="camel"):
    """One session; stored as this JSON in ``Invoice.lines``."""

    transaction_id: uuid.UUID
    transaction_number: int
    id_token: str
    evse_id: str
    location: str
    started_at: datetime
    stopped_at: datetime
    energy_wh: float
    vat_rate_bp: int
    net_minor: int
    vat_minor: int
    total_minor: int  # gross


class InvoiceVatOut(msgspec.Struct, kw_only=True, rename="camel"):
    rate_bp: int
    net_minor: int
    vat_minor: int
    total_minor: int


class InvoicePartyOut(msgspec.Struct, kw_only=True, rename="camel"):
    name: str
    organisation_number: str = ""
    vat_number: str = ""
    address: str = ""
    email: str = ""


class InvoiceOut(msgspec.Struct, kw_only=True, rename="camel"):
    id: uuid.UUID
    number: str
    operator_id: uuid.UUID
    fleet_account_id: uuid.UUID
    seller: InvoicePartyOut
    buyer: InvoicePartyOut
    period_start: date
    period_end: date  # exclusive
    time_zone: str  # the months' clock: always "UTC"
    currency: str
    net_minor: int
    vat_minor: int
    total_minor: int
    vat: list[InvoiceVatOut]
    lines: list[InvoiceLineOut]
    issued_at: datetime
    due_on: date
    notes: str


class InvoiceSummaryOut(msgspec.Struct, kw_only=True, rename="camel"):
    id: uuid.UUID
    number: str
    fleet_account_id: uuid.UUID
    period_start: date
    period_end: date
    currency: str
    total_minor: int
    issued_at: datetime
    due_on: date

    @classmethod
    def of(cls, i: Invoice) -> InvoiceSummaryOut:
        return cls(
            id=i.id,
            number=i.number,
            fleet_account_id=i.fleet_account_id,
            period_start=i.period_start,
            period_end=i.period_end,
            currency=i.currency,
            total_minor=i.total_minor,
            issued_at=i.issued_at,
            due_on=i.due_on,
        )


class InvoicePageOut(Page, kw_only=True):
    items: list[InvoiceSummaryOut]


# -- pure parts -----------------------------------------------------------------------------


def month_period(month: str) -> tuple[date, date]:
    """``"2026-03"`` -> (2026-03-01, 2026-04-01): the month, end exclusive."""
    try:
        year, mon = (int(part) for part in month.split("-"))
        start = date(year, mon, 1)
    except ValueError:
        raise InvalidInput("month must be YYYY-MM", field="month") from None
    end = date(year + 1, 1, 1) if mon == 12 else date(year, mon + 1, 1)
    return start, end


def vat_summary(lines: Sequence[InvoiceLineOut]) -> list[InvoiceVatOut]:
    """Per VAT rate: the gross sum, and the VAT extracted from it once (see the module doc)."""
    gross: dict[int, int] = {}
    for line in lines:
        gross[line.vat_rate_bp] = gross.get(line.vat_rate_bp, 0) + line.total_minor
    result = []
    for rate, total in sorted(gross.items()):
        vat = vat_of(total, rate)
        result.append(InvoiceVatOut(rate_bp=rate, net_minor=total - vat, vat_minor=vat, total_minor=total))
    return result


def invoice_number(party_id: str, year: int, sequence: int) -> str:
    return f"{party_id}-{year}-{sequence:06d}"


def counter_name(operator_id: uuid.UUID, year: int) -> str:
    """The counter of an operator's invoice numbers in a year; ``counters.name`` holds 32
    characters, so the operator id goes in as 22 base64 characters."""
    key = base64.urlsafe_b64encode(operator_id.bytes).decode().rstrip("=")
    return f"inv:{key}:{year}"


def _utc_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


# -- services -------------------------------------------------------------------------------


class FleetService:
    def __init__(self, db: AsyncSession, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.clock = clock

    async def create(self, data: FleetAccountIn, *, operator_id: uuid.UUID | None) -> FleetAccount:
        owner = data.operator_id or operator_id
        if owner is None:
            raise OperatorRequired("this user belongs to no operator: give operatorId", field="operatorId")
        if await self.db.get(Operator, owner) is None:
            raise InvalidInput(f"no operator {owner}", field="operatorId")
        if data.currency not in CURRENCIES:
            raise InvalidInput(f"{data.currency!r} is not an ISO-4217 currency code", field="currency")
        account = FleetAccount(
            operator_id=owner,
            name=data.name,
            organisation_number=data.organisation_number,
            vat_number=data.vat_number,
            billing_email=data.billing_email,
            address=data.address,
            currency=data.currency,
            payment_terms_days=data.payment_terms_days,
            created_at=self.clock(),
        )
        self.db.add(account)
        await self.db.commit()
        return account

    async def get(self, account_id: uuid.UUID) -> FleetAccount:
        account = await self.db.get(FleetAccount, account_id)
        if account is None:
            raise FleetAccountNotFound()
        return account

    async def search(
        self, *, operator_id: uuid.UUID | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[Sequence[FleetAccount], int]:
        stmt = select(FleetAccount)
        count = select(func.count()).select_from(FleetAccount)
        if operator_id is not None:
            stmt = stmt.where(FleetAccount.operator_id == operator_id)
            count = count.where(FleetAccount.operator_id == operator_id)
        rows = await self.db.scalars(stmt.order_by(FleetAccount.name, FleetAccount.id).limit(limit).offset(offset))
        return rows.all(), int(await self.db.scalar(count) or 0)

    async def tokens(self, account_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
        result: dict[uuid.UUID, list[str]] = {a: [] for a in account_ids}
        if account_ids:
            rows = await self.db.execute(
                select(FleetToken.fleet_account_id, FleetToken.id_token)
                .where(FleetToken.fleet_account_id.in_(account_ids))
                .order_by(FleetToken.id_token)
            )
            for account_id, token in rows:
                result[account_id].append(token)
        return result

    async def link_token(self, account_id: uuid.UUID, id_token: str) -> tuple[FleetToken, bool]:
        """Bill ``id_token``'s sessions to the account; linking it again is a no-op
        (``created`` False), linking a token of another account is ``fleet.token_taken``."""
        await self.get(account_id)
        existing = await self.db.get(FleetToken, id_token)
        if existing is not None:
            if existing.fleet_account_id != account_id:
                raise FleetTokenTaken(f"{id_token} is billed to fleet account {existing.fleet_account_id}")
            return existing, False
        token = FleetToken(id_token=id_token, fleet_account_id=account_id, created_at=self.clock())
        self.db.add(token)
        try:
            await self.db.commit()
        except IntegrityError:
            # Linked by a concurrent request meanwhile: answer as if it had been first.
            await self.db.rollback()
            return await self.link_token(account_id, id_token)
        return token, True


class InvoiceService:
    def __init__(self, db: AsyncSession, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.clock = clock

    async def issue(self, account_id: uuid.UUID, month: str, *, notes: str = "") -> tuple[Invoice, bool]:
        """The account's invoice of ``month`` ("YYYY-MM"); ``created`` is False when it had
        been issued before (the same invoice comes back, whatever ``notes`` say now)."""
        start, end = month_period(month)
        account = await self.db.get(FleetAccount, account_id)
        if account is None:
            raise FleetAccountNotFound()
        existing = await self._existing(account_id, start)
        if existing is not None:
            return existing, False
        now = self.clock()
        if _utc_midnight(end) > now:
            raise InvoicePeriodOpen(f"{month} ends {end.isoformat()} 00:00 UTC; issue its invoice after that")
        lines = await self._lines(account, start, end)
        if not lines:
            raise NothingToInvoice(f"{account.name} has no completed, priced sessions that stopped in {month} (UTC)")
        foreign = sorted({cur for cur, _ in lines if cur != account.currency})
        if foreign:
            raise InvoiceCurrencyMismatch(
                f"the account is billed in {account.currency}; sessions of {month} are priced in {', '.join(foreign)}"
            )
        operator = await self.db.get(Operator, account.operator_id)
        if operator is None:  # the foreign key says otherwise
            raise FleetAccountNotFound("the account's operator is gone")
        items = [line for _, line in lines]
        vat = vat_summary(items)
        sequence = await next_number(self.db, counter_name(operator.id, now.year))
        invoice = Invoice(
            operator_id=operator.id,
            fleet_account_id=account.id,
            number=invoice_number(operator.party_id, now.year, sequence),
            period_start=start,
            period_end=end,
            currency=account.currency,
            net_minor=sum(v.net_minor for v in vat),
            vat_minor=sum(v.vat_minor for v in vat),
            total_minor=sum(v.total_minor for v in vat),
            lines=[msgspec.to_builtins(line) for line in items],
            issued_at=now,
            due_on=now.date() + timedelta(days=account.payment_terms_days),
            notes=notes,
        )
        self.db.add(invoice)
        try:
            await self.db.commit()
        except IntegrityError:
            # Issued concurrently: the rollback also gives the number back.
            await self.db.rollback()
            existing = await self._existing(account_id, start)
            if existing is None:
                raise
            return existing, False
        return invoice, True

    async def _existing(self, account_id: uuid.UUID, start: date) -> Invoice | None:
        result: Invoice | None = await self.db.scalar(
            select(Invoice).where(Invoice.fleet_account_id == account_id, Invoice.period_start == start)
        )
        return result

    async def _lines(self, account: FleetAccount, start: date, end: date) -> list[tuple[str, InvoiceLineOut]]:
        """(currency, line) of every session to invoice, in the order they stopped."""
        paid = exists().where(Payment.transaction_id == Transaction.id)
        rows = await self.db.execute(
            select(Transaction, Evse.evse_id, ChargePoint.identity, Location.name)
            .join(FleetToken, FleetToken.id_token == Transaction.id_token)
            .join(ChargePoint, ChargePoint.id == Transaction.charge_point_id)
            .outerjoin(Location, Location.id == ChargePoint.location_id)
            .outerjoin(
                Evse,
                and_(Evse.charge_point_id == Transaction.charge_point_id, Evse.evse_number == Transaction.evse_number),
            )
            .where(
                FleetToken.fleet_account_id == account.id,
                Transaction.status == "completed",
                Transaction.cost_minor.is_not(None),
                Transaction.stopped_at >= _utc_midnight(start),
                Transaction.stopped_at < _utc_midnight(end),
                ~paid,
            )
            .order_by(Transaction.stopped_at, Transaction.number)
        )
        result = []
        for tx, evse_id, identity, location in rows:
            gross = tx.cost_minor or 0
            vat = tx.cost_vat_minor or 0
            rate = _vat_rate(tx)
            result.append(
                (
                    tx.cost_currency or account.currency,
                    InvoiceLineOut(
                        transaction_id=tx.id,
                        transaction_number=tx.number,
                        id_token=tx.id_token or "",
                        evse_id=evse_id or f"{identity}/{tx.evse_number}",
                        location=location or "",
                        started_at=tx.started_at,
                        stopped_at=tx.stopped_at or tx.started_at,  # never None: filtered above
                        energy_wh=round(float((tx.cost or {}).get("energy_wh", tx.energy_wh)), 3),
                        vat_rate_bp=rate,
                        net_minor=gross - vat,
                        vat_minor=vat,
                        total_minor=gross,
                    ),
                )
            )
        return result

    async def get(self, invoice_id: uuid.UUID) -> Invoice:
        invoice = await self.db.get(Invoice, invoice_id)
        if invoice is None:
            raise InvoiceNotFound()
        return invoice

    async def search(
        self, *, fleet_account_id: uuid.UUID | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[Sequence[Invoice], int]:
        stmt = select(Invoice)
        count = select(func.count()).select_from(Invoice)
        if fleet_account_id is not None:
            stmt = stmt.where(Invoice.fleet_account_id == fleet_account_id)
            count = count.where(Invoice.fleet_account_id == fleet_account_id)
        rows = await self.db.scalars(
            stmt.order_by(Invoice.issued_at.desc(), Invoice.number.desc()).limit(limit).offset(offset)
        )
        return rows.all(), int(await self.db.scalar(count) or 0)

    async def out(self, invoice: Invoice) -> InvoiceOut:
        account = await self.db.get(FleetAccount, invoice.fleet_account_id)
        operator = await self.db.get(Operator, invoice.operator_id)
        lines = [msgspec.convert(line, InvoiceLineOut) for line in invoice.lines]
        return InvoiceOut(
            id=invoice.id,
            number=invoice.number,
            operator_id=invoice.operator_id,
            fleet_account_id=invoice.fleet_account_id,
            seller=InvoicePartyOut(name=operator.name if operator is not None else ""),
            buyer=InvoicePartyOut(
                name=account.name,
                organisation_number=account.organisation_number,
                vat_number=account.vat_number,
                address=account.address,
                email=account.billing_email,
            )
            if account is not None
            else InvoicePartyOut(name=""),
            period_start=invoice.period_start,
            period_end=invoice.period_end,
            time_zone="UTC",
            currency=invoice.currency,
            net_minor=invoice.net_minor,
            vat_minor=invoice.vat_minor,
            total_minor=invoice.total_minor,
            vat=vat_summary(lines),
            lines=lines,
            issued_at=invoice.issued_at,
            due_on=invoice.due_on,
            notes=invoice.notes,
        )


def _vat_rate(tx: Transaction) -> int:
    for source in (tx.cost, tx.tariff_snapshot):
        if source and "vat_rate_bp" in source:
            return int(source["vat_rate_bp"])
    return 0


# -- PDF ------------------------------------------------------------------------------------


def render_invoice_pdf(invoice: InvoiceOut, *, use_unicode_font: bool = True) -> bytes:
    def money(amount: int) -> str:
        return format_minor(amount, invoice.currency)

    last_day = invoice.period_end - timedelta(days=1)
    doc = PdfDocument(f"Invoice {invoice.number}", use_unicode_font=use_unicode_font)
    doc.heading(f"Invoice {invoice.number}")
    doc.paragraph(invoice.seller.name)
    doc.pdf.ln(2)
    buyer = invoice.buyer
    fields: list[tuple[str, str]] = [("Bill to", buyer.name)]
    fields += [(k, v) for k, v in (("Org. number", buyer.organisation_number), ("VAT number", buyer.vat_number)) if v]
    if buyer.address:
        fields.append(("Address", buyer.address))
    fields += [
        ("Email", buyer.email),
        ("Period", f"{invoice.period_start.isoformat()} – {last_day.isoformat()} (UTC)"),
        ("Issued", invoice.issued_at.astimezone(UTC).date().isoformat()),
        ("Due", invoice.due_on.isoformat()),
    ]
    doc.fields(fields)
    rows: list[list[str]] = [
        [
            f"{local_time(line.stopped_at, 'UTC')}  {line.evse_id}",
            line.id_token,
            f"{line.energy_wh / 1000:.3f} kWh",
            percent(line.vat_rate_bp),
            money(line.total_minor),
        ]
        for line in invoice.lines
    ]
    doc.table(
        ["Session (stopped, EVSE)", "Token", "Energy", "VAT", "Amount"],
        rows,
        [0.47, 0.17, 0.13, 0.08, 0.15],
        total=[
            "Total",
            "",
            f"{sum(x.energy_wh for x in invoice.lines) / 1000:.3f} kWh",
            "",
            money(invoice.total_minor),
        ],
        size=8.5,
    )
    doc.table(
        ["VAT rate", "Net", "VAT", "Gross"],
        [[percent(v.rate_bp), money(v.net_minor), money(v.vat_minor), money(v.total_minor)] for v in invoice.vat],
        [0.46, 0.18, 0.18, 0.18],
        total=["Total", money(invoice.net_minor), money(invoice.vat_minor), money(invoice.total_minor)],
    )
    if invoice.notes:
        doc.paragraph(invoice.notes)
    return doc.output()
