"""Receipts of paid sessions: JSON, a printable HTML page and a PDF.

A receipt exists only for a payment that took money (captured, partially or wholly
refunded). Its lines are the session's price components as priced at the end of the
session; when the capture was limited by the hold, one more line brings them down to the
amount captured, and the VAT shown is the VAT inside the amount captured. A session on a
fleet account has no receipt: it is a line of that account's monthly invoice.

The PDF helpers here (``PdfDocument``) are shared with the invoices.
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from mako.template import Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.chargers.models import ChargePoint, Evse, Location
from app.core.database import utcnow
from app.core.errors import NotFound
from app.operators.models import Operator
from app.sessions.models import Transaction
from app.tariffs.pricing import Price, format_minor, vat_of
from payments.errors import PaymentsNotConfigured
from payments.models import FleetToken, Invoice, Payment, Refund
from payments.provider import ProviderError
from payments.registry import Providers

# The statuses of a payment that took money.
PAID_STATUSES = frozenset({"captured", "partially_refunded", "refunded"})


class ReceiptNotFound(NotFound):
    code = "receipt.not_found"
    title = "No receipt: the payment does not exist or took no money"


# -- the receipt -----------------------------------------------------------------------------


class ReceiptLineOut(msgspec.Struct, kw_only=True, rename="camel"):
    """One price component; ``hold_limit`` brings the lines down to a capture the hold capped."""

    kind: str  # energy | time | session_fee | idle | minimum_adjustment | cap_adjustment | hold_limit
    description: str
    quantity: float
    unit: str  # kWh | min | "" (once)
    unit_price_minor: int
    amount_minor: int


class VatLineOut(msgspec.Struct, kw_only=True, rename="camel"):
    rate_bp: int
    net_minor: int
    vat_minor: int
    gross_minor: int


class ReceiptRefundOut(msgspec.Struct, kw_only=True, rename="camel"):
    amount_minor: int
    status: str
    created_at: datetime


class ReceiptOut(msgspec.Struct, kw_only=True, rename="camel"):
    """Times are UTC; ``time_zone`` is the location's, in which the HTML and PDF show them."""

    payment_id: uuid.UUID
    transaction_id: uuid.UUID | None
    transaction_number: int | None
    operator_name: str
    operator_key: str  # "SE*LAD"
    location_name: str
    location_address: str
    time_zone: str
    evse_id: str  # eMI3
    charge_point: str
    started_at: datetime | None
    stopped_at: datetime | None
    energy_wh: float
    charging_seconds: float
    idle_seconds: float
    tariff_name: str
    currency: str
    lines: list[ReceiptLineOut]
    price_minor: int  # what the session cost
    captured_minor: int  # what was taken: min(price, hold)
    refunded_minor: int
    paid_minor: int  # captured - refunded
    vat: list[VatLineOut]  # of the amount captured
    refunds: list[ReceiptRefundOut]
    payment_status: str
    provider: str
    method_brand: str | None
    method_last4: str | None
    method_wallet: str | None
    captured_at: datetime | None


_COMPONENT_TEXT = {
    "energy": ("Energy", "kWh"),
    "time": ("Charging time", "min"),
    "session_fee": ("Session fee", ""),
    "idle": ("Idle fee", "min"),
    "minimum_adjustment": ("Minimum price", ""),
    "cap_adjustment": ("Price cap", ""),
}


def receipt_lines(price: Price | None, captured_minor: int) -> list[ReceiptLineOut]:
    """The price's components, plus a ``hold_limit`` line when less was captured."""
    lines: list[ReceiptLineOut] = []
    if price is not None:
        for c in price.components:
            text, unit = _COMPONENT_TEXT.get(c.kind, (c.kind, ""))
            lines.append(
                ReceiptLineOut(
                    kind=c.kind,
                    description=f"{text} ({c.band})" if c.band else text,
                    quantity=round(c.quantity, 3),
                    unit=unit,
                    unit_price_minor=c.unit_price_minor,
                    amount_minor=c.amount_minor,
                )
            )
    listed = sum(line.amount_minor for line in lines)
    if listed != captured_minor:
        lines.append(
            ReceiptLineOut(
                kind="hold_limit",
                description="Limited to the amount reserved on the card",
                quantity=1,
                unit="",
                unit_price_minor=captured_minor - listed,
                amount_minor=captured_minor - listed,
            )
        )
    return lines


def vat_lines(gross_minor: int, rate_bp: int) -> list[VatLineOut]:
    vat = vat_of(gross_minor, rate_bp)
    return [VatLineOut(rate_bp=rate_bp, net_minor=gross_minor - vat, vat_minor=vat, gross_minor=gross_minor)]


def _address(loc: Location | None) -> str:
    if loc is None:
        return ""
    town = " ".join(p for p in (loc.postal_code, loc.city) if p)
    return ", ".join(p for p in (loc.address, town) if p)


class ReceiptService:
    """Builds receipts from the database; ``providers`` (optional) fills in a card's brand
    and last four when the PSP never reported them in a notification."""

    def __init__(self, db: AsyncSession, providers: Providers | None = None) -> None:
        self.db = db
        self.providers = providers

    async def for_payment(self, payment_id: uuid.UUID) -> ReceiptOut:
        payment = await self.db.get(Payment, payment_id)
        if payment is None:
            raise ReceiptNotFound(f"no payment {payment_id}")
        return await self._build(payment)

    async def for_transaction(self, transaction_id: uuid.UUID) -> ReceiptOut:
        """The receipt of a session's payment; a session on a fleet account has none (its
        invoice is the document)."""
        payment = await self.db.scalar(select(Payment).where(Payment.transaction_id == transaction_id))
        if payment is not None:
            return await self._build(payment)
        tx = await self.db.get(Transaction, transaction_id)
        if tx is None:
            raise ReceiptNotFound(f"no transaction {transaction_id}")
        if tx.id_token is not None:
            account_id = await self.db.scalar(
                select(FleetToken.fleet_account_id).where(FleetToken.id_token == tx.id_token)
            )
            if account_id is not None:
                number = None
                if tx.stopped_at is not None:
                    month = tx.stopped_at.date().replace(day=1)
                    number = await self.db.scalar(
                        select(Invoice.number).where(
                            Invoice.fleet_account_id == account_id, Invoice.period_start == month
                        )
                    )
                where = f"invoice {number}" if number else "the account's monthly invoice"
                raise ReceiptNotFound(f"the session is charged on a fleet account: it is a line of {where}")
        raise ReceiptNotFound("the session has no card payment")

    async def _build(self, payment: Payment) -> ReceiptOut:
        if payment.status not in PAID_STATUSES:
            raise ReceiptNotFound(f"the payment is {payment.status}: only a captured payment has a receipt")
        row = (
            await self.db.execute(
                select(Evse, ChargePoint, Location)
                .join(ChargePoint, ChargePoint.id == Evse.charge_point_id)
                .outerjoin(Location, Location.id == ChargePoint.location_id)
                .where(Evse.id == payment.evse_id)
            )
        ).one()
        evse, charge_point, location = row
        operator = await self.db.get(Operator, payment.operator_id)
        tx = await self.db.get(Transaction, payment.transaction_id) if payment.transaction_id else None
        price = msgspec.convert(tx.cost, Price) if tx is not None and tx.cost is not None else None
        refunds = (
            await self.db.scalars(select(Refund).where(Refund.payment_id == payment.id).order_by(Refund.seq))
        ).all()
        rate = price.vat_rate_bp if price is not None else int(payment.tariff_snapshot.get("vat_rate_bp", 0))
        brand, last4, wallet = await self._method(payment)
        return ReceiptOut(
            payment_id=payment.id,
            transaction_id=payment.transaction_id,
            transaction_number=tx.number if tx is not None else None,
            operator_name=operator.name if operator is not None else "",
            operator_key=f"{operator.country_code}*{operator.party_id}" if operator is not None else "",
            location_name=location.name if location is not None else "",
            location_address=_address(location),
            time_zone=location.time_zone if location is not None else "UTC",
            evse_id=evse.evse_id,
            charge_point=charge_point.identity,
            started_at=tx.started_at if tx is not None else None,
            stopped_at=tx.stopped_at if tx is not None else None,
            energy_wh=price.energy_wh if price is not None else (tx.energy_wh if tx is not None else 0.0),
            charging_seconds=price.charging_seconds if price is not None else 0.0,
            idle_seconds=price.idle_seconds if price is not None else 0.0,
            tariff_name=str(payment.tariff_snapshot.get("name") or ""),
            currency=payment.currency,
            lines=receipt_lines(price, payment.captured_minor),
            price_minor=price.total_minor if price is not None else (payment.amount_due_minor or 0),
            captured_minor=payment.captured_minor,
            refunded_minor=payment.refunded_minor,
            paid_minor=payment.captured_minor - payment.refunded_minor,
            vat=vat_lines(payment.captured_minor, rate),
            refunds=[
                ReceiptRefundOut(amount_minor=r.amount_minor, status=r.status, created_at=r.created_at) for r in refunds
            ],
            payment_status=payment.status,
            provider=payment.provider,
            method_brand=brand,
            method_last4=last4,
            method_wallet=wallet,
            captured_at=payment.capture_confirmed_at or payment.settled_at,
        )

    async def _method(self, payment: Payment) -> tuple[str | None, str | None, str | None]:
        brand, last4, wallet = payment.method_brand, payment.method_last4, payment.method_wallet
        if (brand or last4) or self.providers is None or payment.provider_ref is None:
            return brand, last4, wallet
        try:
            method = await self.providers.get(payment.provider).payment_method(payment.provider_ref)
        except (ProviderError, PaymentsNotConfigured):
            # The receipt without the card is better than no receipt.
            return brand, last4, wallet
        if method is None:
            return brand, last4, wallet
        return method.brand, method.last4, method.wallet or wallet


# -- formatting shared by HTML and PDF --------------------------------------------------------


def local_time(instant: datetime | None, time_zone: str) -> str:
    """``2026-03-05 14:03 CET``: an instant on the location's wall clock."""
    if instant is None:
        return "–"
    try:
        zone: Any = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = UTC
    local = instant.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or ''}".rstrip()


def kwh(energy_wh: float) -> str:
    return f"{energy_wh / 1000:.3f} kWh"


def percent(rate_bp: int) -> str:
    whole, rest = divmod(rate_bp, 100)
    return f"{whole}%" if not rest else f"{whole}.{rest:02d}".rstrip("0") + "%"


def duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def card_text(r: ReceiptOut) -> str:
    parts = [p for p in ((r.method_brand or "").upper(), f"•••• {r.method_last4}" if r.method_last4 else "") if p]
    if r.method_wallet:
        parts.append(f"({r.method_wallet.replace('_', ' ')})")
    return " ".join(parts) or "Card"


def quantity_text(line: ReceiptLineOut) -> str:
    if not line.unit:
        return ""
    return f"{line.quantity:.3f} {line.unit}" if line.unit == "kWh" else f"{line.quantity:.1f} {line.unit}"


def unit_price_text(line: ReceiptLineOut, currency: str) -> str:
    if not line.unit:
        return ""
    return f"{format_minor(line.unit_price_minor, currency)}/{line.unit}"


# -- HTML -----------------------------------------------------------------------------------

# Mako (already installed with Alembic); every ${} is HTML-escaped by the default filters.
_STYLE = """
  body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; color: #111;
         max-width: 42rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.4; }
  h1 { font-size: 1.4rem; margin: 0 0 .25rem; }
  .muted { color: #555; }
  table { width: 100%; border-collapse: collapse; margin: 1rem 0; }
  th, td { text-align: left; padding: .3rem .4rem; border-bottom: 1px solid #ddd; vertical-align: top; }
  td.n, th.n { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
  tr.total td { font-weight: 600; border-top: 2px solid #111; border-bottom: none; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: 1rem 0; }
  dt { color: #555; } dd { margin: 0; }
  @media print { body { margin: 0; max-width: none; } a { color: inherit; text-decoration: none; } }
"""

_RECEIPT_HTML = Template(
    """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Receipt ${r.evse_id} ${local_time(r.stopped_at or r.captured_at, r.time_zone)}</title>
<style>${style | n}</style>
</head>
<body>
<h1>Receipt</h1>
<p class="muted">${r.operator_name}${" (" + r.operator_key + ")" if r.operator_key else ""}</p>
<dl>
  <dt>Location</dt><dd>${r.location_name}${", " + r.location_address if r.location_address else ""}</dd>
  <dt>EVSE ID</dt><dd>${r.evse_id}</dd>
  <dt>Charge point</dt><dd>${r.charge_point}</dd>
  % if r.transaction_number is not None:
  <dt>Session</dt><dd>${r.transaction_number}</dd>
  % endif
  <dt>Started</dt><dd>${local_time(r.started_at, r.time_zone)}</dd>
  <dt>Stopped</dt><dd>${local_time(r.stopped_at, r.time_zone)}</dd>
  <dt>Energy</dt><dd>${kwh(r.energy_wh)}</dd>
  <dt>Charging time</dt><dd>${duration(r.charging_seconds)}</dd>
  % if r.tariff_name:
  <dt>Tariff</dt><dd>${r.tariff_name}</dd>
  % endif
</dl>
<table>
  <thead><tr><th>Item</th><th class="n">Quantity</th><th class="n">Unit price</th><th class="n">Amount</th></tr></thead>
  <tbody>
  % for line in r.lines:
    <tr><td>${line.description}</td><td class="n">${quantity_text(line)}</td>
        <td class="n">${unit_price_text(line, r.currency)}</td><td class="n">${money(line.amount_minor)}</td></tr>
  % endfor
    <tr class="total"><td colspan="3">Total charged</td><td class="n">${money(r.captured_minor)}</td></tr>
  </tbody>
</table>
<table>
  <thead><tr><th>VAT rate</th><th class="n">Net</th><th class="n">VAT</th><th class="n">Gross</th></tr></thead>
  <tbody>
  % for v in r.vat:
    <tr><td>${percent(v.rate_bp)}</td><td class="n">${money(v.net_minor)}</td>
        <td class="n">${money(v.vat_minor)}</td><td class="n">${money(v.gross_minor)}</td></tr>
  % endfor
  </tbody>
</table>
% if r.refunds:
<table>
  <thead><tr><th>Refund</th><th>Status</th><th class="n">Amount</th></tr></thead>
  <tbody>
  % for f in r.refunds:
    <tr><td>${local_time(f.created_at, r.time_zone)}</td><td>${f.status}</td>
        <td class="n">-${money(f.amount_minor)}</td></tr>
  % endfor
    <tr class="total"><td colspan="2">Paid after refunds</td><td class="n">${money(r.paid_minor)}</td></tr>
  </tbody>
</table>
% endif
<dl>
  <dt>Paid with</dt><dd>${card_text(r)}</dd>
  <dt>Captured</dt><dd>${local_time(r.captured_at, r.time_zone)}</dd>
  <dt>Payment</dt><dd>${r.payment_id}</dd>
</dl>
</body>
</html>
""",
    default_filters=["str", "h"],
)


def render_receipt_html(receipt: ReceiptOut) -> str:
    """A self-contained, printable page: inline CSS, no scripts, no external assets."""
    html: str = _RECEIPT_HTML.render(
        r=receipt,
        style=_STYLE,
        money=lambda amount: format_minor(amount, receipt.currency),
        local_time=local_time,
        kwh=kwh,
        duration=duration,
        percent=percent,
        card_text=card_text,
        quantity_text=quantity_text,
        unit_price_text=unit_price_text,
    )
    return html


# -- PDF ------------------------------------------------------------------------------------

_FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/share/fonts/TTF"),
    Path("/usr/local/share/fonts"),
)


@lru_cache(maxsize=1)
def unicode_font() -> tuple[Path, Path] | None:
    """DejaVu Sans (regular, bold) if the machine has it: any text prints as it is."""
    for folder in _FONT_DIRS:
        regular, bold = folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf"
        if regular.is_file() and bold.is_file():
            return regular, bold
    return None


_LATIN1_SUBSTITUTES = str.maketrans(
    {
        "–": "-",
        "—": "-",
        "‘": "'",
        "’": "'",
        "“": '"',
        "”": '"',
        "…": "...",
        "•": "*",
        "€": "EUR",
        # Letters NFKD does not take apart.
        "Ł": "L",
        "ł": "l",
        "Đ": "D",
        "đ": "d",
        "Œ": "OE",
        "œ": "oe",
        "\u00a0": " ",
        "\u202f": " ",
    }
)


def latin1(text: str) -> str:
    """What the PDF core fonts can print: Latin-1 as it is (å ä ö é ü), typographic
    punctuation as ASCII, accented letters beyond Latin-1 without their accent, and '?'
    for whatever is left."""
    out: list[str] = []
    for ch in text.translate(_LATIN1_SUBSTITUTES):
        if ord(ch) < 256:
            out.append(ch)
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if ord(c) < 256 and not unicodedata.combining(c))
        out.append(base or "?")
    return "".join(out)


class PdfDocument:
    """A one-column A4 document: headings, key/value rows and tables of amounts."""

    def __init__(self, title: str, *, use_unicode_font: bool = True) -> None:
        self.pdf = FPDF(format="A4", unit="mm")
        self.pdf.set_title(title)
        self.pdf.set_creator("Laddnät")
        self.pdf.set_auto_page_break(auto=True, margin=15)
        self.pdf.set_margins(18, 18, 18)
        font = unicode_font() if use_unicode_font else None
        if font is not None:
            self.pdf.add_font("DejaVu", "", str(font[0]))
            self.pdf.add_font("DejaVu", "B", str(font[1]))
            self.family = "DejaVu"
            self.text: Callable[[str], str] = str
        else:
            self.family = "Helvetica"
            self.text = latin1
        self.pdf.add_page()
        self.width = self.pdf.w - self.pdf.l_margin - self.pdf.r_margin

    def heading(self, text: str, size: float = 16) -> None:
        self.pdf.set_font(self.family, "B", size)
        self.pdf.cell(0, size * 0.5, self.text(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.pdf.ln(1)

    def paragraph(self, text: str, size: float = 10) -> None:
        self.pdf.set_font(self.family, "", size)
        self.pdf.multi_cell(0, 5, self.text(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def fields(self, pairs: Sequence[tuple[str, str]], key_width: float = 38) -> None:
        for key, value in pairs:
            self.pdf.set_font(self.family, "", 9.5)
            self.pdf.set_text_color(90, 90, 90)
            self.pdf.cell(key_width, 5.5, self.text(key))
            self.pdf.set_text_color(0, 0, 0)
            self.pdf.multi_cell(0, 5.5, self.text(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.pdf.ln(2)

    def table(
        self,
        header: Sequence[str],
        rows: Sequence[Sequence[str]],
        widths: Sequence[float],
        *,
        total: Sequence[str] | None = None,
        size: float = 9.5,
    ) -> None:
        """Column 0 left-aligned, the others right-aligned; widths are fractions of the line."""
        cols = [w * self.width for w in widths]

        def row(cells: Sequence[str], style: str, border: str) -> None:
            self.pdf.set_font(self.family, style, size)
            for i, (cell, w) in enumerate(zip(cells, cols, strict=True)):
                self.pdf.cell(w, 6.5, self.text(cell), border=border, align="L" if i == 0 else "R")
            self.pdf.ln(6.5)

        row(header, "B", "B")
        for cells in rows:
            row(cells, "", "")
        if total is not None:
            row(total, "B", "T")
        self.pdf.ln(3)

    def output(self) -> bytes:
        return bytes(self.pdf.output())


def render_receipt_pdf(receipt: ReceiptOut, *, use_unicode_font: bool = True) -> bytes:
    r = receipt

    def money(amount: int) -> str:
        return format_minor(amount, r.currency)

    doc = PdfDocument(f"Receipt {r.evse_id}", use_unicode_font=use_unicode_font)
    doc.heading("Receipt")
    doc.paragraph(f"{r.operator_name} ({r.operator_key})" if r.operator_key else r.operator_name)
    doc.pdf.ln(2)
    place = r.location_name + (f", {r.location_address}" if r.location_address else "")
    fields = [("Location", place), ("EVSE ID", r.evse_id), ("Charge point", r.charge_point)]
    if r.transaction_number is not None:
        fields.append(("Session", str(r.transaction_number)))
    fields += [
        ("Started", local_time(r.started_at, r.time_zone)),
        ("Stopped", local_time(r.stopped_at, r.time_zone)),
        ("Energy", kwh(r.energy_wh)),
        ("Charging time", duration(r.charging_seconds)),
    ]
    if r.tariff_name:
        fields.append(("Tariff", r.tariff_name))
    doc.fields(fields)
    doc.table(
        ["Item", "Quantity", "Unit price", "Amount"],
        [
            [ln.description, quantity_text(ln), unit_price_text(ln, r.currency), money(ln.amount_minor)]
            for ln in r.lines
        ],
        [0.46, 0.16, 0.2, 0.18],
        total=["Total charged", "", "", money(r.captured_minor)],
    )
    doc.table(
        ["VAT rate", "Net", "VAT", "Gross"],
        [[percent(v.rate_bp), money(v.net_minor), money(v.vat_minor), money(v.gross_minor)] for v in r.vat],
        [0.46, 0.18, 0.18, 0.18],
    )
    if r.refunds:
        doc.table(
            ["Refund", "Status", "Amount"],
            [[local_time(f.created_at, r.time_zone), f.status, "-" + money(f.amount_minor)] for f in r.refunds],
            [0.46, 0.36, 0.18],
            total=["Paid after refunds", "", money(r.paid_minor)],
        )
    doc.fields(
        [
            ("Paid with", card_text(r)),
            ("Captured", local_time(r.captured_at, r.time_zone)),
            ("Payment", str(r.payment_id)),
        ]
    )
    return doc.output()


def receipt_filename(receipt: ReceiptOut, ext: str) -> str:
    day = (receipt.stopped_at or receipt.captured_at or utcnow()).astimezone(UTC)
    return f"receipt-{day:%Y%m%d}-{str(receipt.payment_id)[:8]}.{ext}"
