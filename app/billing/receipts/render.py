"""A receipt as people read it: a self-contained printable HTML page (also the e-mail body) and a PDF."""

from __future__ import annotations

from datetime import UTC
from decimal import ROUND_HALF_UP, Decimal

from mako.template import Template

from app.billing.formatting import kwh, local_time, percent
from app.billing.pdf import PdfDocument
from app.billing.receipts.schemas import CreditNoteOut, ReceiptLineOut, ReceiptOut, SellerOut
from app.core.database import utcnow
from app.tariffs.pricing import format_minor

# -- text shared by the page and the PDF ----------------------------------------------------


def card_text(r: ReceiptOut) -> str:
    parts = [p for p in ((r.method_brand or "").upper(), f"•••• {r.method_last4}" if r.method_last4 else "") if p]
    if r.method_wallet:
        parts.append(f"({r.method_wallet.replace('_', ' ')})")
    return " ".join(parts) or "Card"


def minutes_text(minutes: float) -> str:
    """Minutes to the tenth, half up: the one rule for the charging time in the header and
    the minutes of the lines, so 30 s reads "0.5 min" in both (it once read "0 min" above a
    "0.5 min" line). An hour or more reads ``1 h 5.5 min``."""
    tenths = Decimal(repr(minutes)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    hours, rest = divmod(tenths, 60)
    return f"{int(hours)} h {rest} min" if hours else f"{rest} min"


def quantity_text(line: ReceiptLineOut) -> str:
    if not line.unit:
        return ""
    if line.unit == "min":
        return minutes_text(line.quantity)
    return f"{line.quantity:.3f} {line.unit}"


def seller_lines(seller: SellerOut) -> list[str]:
    """The seller as a simplified VAT invoice names it: legal name, address, VAT number."""
    town = " ".join(p for p in (seller.postal_code, seller.city) if p)
    place = ", ".join(p for p in (seller.street_address, town, seller.country) if p)
    ids = "  ".join(
        i
        for i in (
            f"VAT No. {seller.vat_number}" if seller.vat_number else "",
            f"Org. No. {seller.org_number}" if seller.org_number else "",
        )
        if i
    )
    return [line for line in (seller.legal_name, place, ids, seller.contact_email) if line]


def unit_price_text(line: ReceiptLineOut, currency: str) -> str:
    if not line.unit:
        return ""
    return f"{format_minor(line.unit_price_minor, currency)}/{line.unit}"


def receipt_filename(receipt: ReceiptOut, ext: str) -> str:
    day = (receipt.stopped_at or receipt.captured_at or utcnow()).astimezone(UTC)
    return f"receipt-{day:%Y%m%d}-{str(receipt.payment_id)[:8]}.{ext}"


def credit_note_filename(note: CreditNoteOut, ext: str) -> str:
    return f"credit-note-{note.number}.{ext}"


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
<p class="muted">Simplified VAT invoice</p>
<p class="seller">
% for line in seller_lines(r.seller):
  ${line}<br>
% endfor
</p>
<p class="muted">${r.operator_name}${" (" + r.operator_key + ")" if r.operator_key else ""}</p>
<dl>
  <dt>Receipt No.</dt><dd>${r.receipt_number}</dd>
  <dt>Date of issue</dt><dd>${local_time(r.issued_at, r.time_zone)}</dd>
  <dt>Location</dt><dd>${r.location_name}${", " + r.location_address if r.location_address else ""}</dd>
  <dt>EVSE ID</dt><dd>${r.evse_id}</dd>
  <dt>Charge point</dt><dd>${r.charge_point}</dd>
  % if r.transaction_number is not None:
  <dt>Session</dt><dd>${r.transaction_number}</dd>
  % endif
  <dt>Started</dt><dd>${local_time(r.started_at, r.time_zone)}</dd>
  <dt>Stopped</dt><dd>${local_time(r.stopped_at, r.time_zone)}</dd>
  <dt>Energy</dt><dd>${kwh(r.energy_wh)}</dd>
  <dt>Charging time</dt><dd>${minutes_text(r.charging_seconds / 60)}</dd>
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
% if r.credit_notes:
<table>
  <thead><tr><th>Credit note</th><th>Issued</th><th class="n">VAT</th><th class="n">Amount</th></tr></thead>
  <tbody>
  % for c in r.credit_notes:
    <tr><td>${c.number}</td><td>${local_time(c.issued_at, r.time_zone)}</td>
        <td class="n">${money(c.vat_minor)}</td><td class="n">${money(c.gross_minor)}</td></tr>
  % endfor
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
        minutes_text=minutes_text,
        percent=percent,
        card_text=card_text,
        quantity_text=quantity_text,
        unit_price_text=unit_price_text,
        seller_lines=seller_lines,
    )
    return html


# -- PDF ------------------------------------------------------------------------------------


def render_receipt_pdf(receipt: ReceiptOut, *, use_unicode_font: bool = True) -> bytes:
    r = receipt

    def money(amount: int) -> str:
        return format_minor(amount, r.currency)

    doc = PdfDocument(f"Receipt {r.receipt_number}", use_unicode_font=use_unicode_font)
    doc.heading("Receipt")
    doc.paragraph("Simplified VAT invoice")
    for line in seller_lines(r.seller):
        doc.paragraph(line)
    doc.paragraph(f"{r.operator_name} ({r.operator_key})" if r.operator_key else r.operator_name)
    doc.pdf.ln(2)
    place = r.location_name + (f", {r.location_address}" if r.location_address else "")
    fields = [
        ("Receipt No.", r.receipt_number),
        ("Date of issue", local_time(r.issued_at, r.time_zone)),
        ("Location", place),
        ("EVSE ID", r.evse_id),
        ("Charge point", r.charge_point),
    ]
    if r.transaction_number is not None:
        fields.append(("Session", str(r.transaction_number)))
    fields += [
        ("Started", local_time(r.started_at, r.time_zone)),
        ("Stopped", local_time(r.stopped_at, r.time_zone)),
        ("Energy", kwh(r.energy_wh)),
        ("Charging time", minutes_text(r.charging_seconds / 60)),
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
    if r.credit_notes:
        doc.table(
            ["Credit note", "Issued", "VAT", "Amount"],
            [
                [c.number, local_time(c.issued_at, r.time_zone), money(c.vat_minor), money(c.gross_minor)]
                for c in r.credit_notes
            ],
            [0.3, 0.34, 0.18, 0.18],
        )
    doc.fields(
        [
            ("Paid with", card_text(r)),
            ("Captured", local_time(r.captured_at, r.time_zone)),
            ("Payment", str(r.payment_id)),
        ]
    )
    return doc.output()


# -- credit notes ---------------------------------------------------------------------------

_CREDIT_NOTE_HTML = Template(
    """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Credit note ${c.number}</title>
<style>${style | n}</style>
</head>
<body>
<h1>Credit note</h1>
<p class="muted">Corrects receipt ${c.original_receipt_number} (simplified VAT invoice)</p>
<p class="seller">
% for line in seller_lines(c.seller):
  ${line}<br>
% endfor
</p>
<dl>
  <dt>Credit note No.</dt><dd>${c.number}</dd>
  <dt>Date of issue</dt><dd>${local_time(c.issued_at, c.time_zone)}</dd>
  <dt>Original receipt</dt><dd>${c.original_receipt_number} of ${local_time(c.original_issued_at, c.time_zone)}</dd>
  <dt>Location</dt><dd>${c.location_name}${", " + c.location_address if c.location_address else ""}</dd>
  <dt>EVSE ID</dt><dd>${c.evse_id}</dd>
  % if c.transaction_number is not None:
  <dt>Session</dt><dd>${c.transaction_number}</dd>
  % endif
</dl>
<table>
  <thead><tr><th>Item</th><th class="n">Amount</th></tr></thead>
  <tbody>
  % for line in c.lines:
    <tr><td>${line.description}</td><td class="n">${money(line.amount_minor)}</td></tr>
  % endfor
    <tr class="total"><td>Total credited</td><td class="n">${money(c.total_minor)}</td></tr>
  </tbody>
</table>
<table>
  <thead><tr><th>VAT rate</th><th class="n">Net</th><th class="n">VAT corrected</th>
    <th class="n">Gross</th></tr></thead>
  <tbody>
  % for v in c.vat:
    <tr><td>${percent(v.rate_bp)}</td><td class="n">${money(v.net_minor)}</td>
        <td class="n">${money(v.vat_minor)}</td><td class="n">${money(v.gross_minor)}</td></tr>
  % endfor
  </tbody>
</table>
<dl>
  <dt>Receipt after correction</dt><dd>${money(c.corrected_gross_minor)} incl. VAT ${money(c.corrected_vat_minor)}</dd>
</dl>
</body>
</html>
""",
    default_filters=["str", "h"],
)


def render_credit_note_html(note: CreditNoteOut) -> str:
    html: str = _CREDIT_NOTE_HTML.render(
        c=note,
        style=_STYLE,
        money=lambda amount: format_minor(amount, note.currency),
        local_time=local_time,
        percent=percent,
        seller_lines=seller_lines,
    )
    return html


def render_credit_note_pdf(note: CreditNoteOut, *, use_unicode_font: bool = True) -> bytes:
    c = note

    def money(amount: int) -> str:
        return format_minor(amount, c.currency)

    doc = PdfDocument(f"Credit note {c.number}", use_unicode_font=use_unicode_font)
    doc.heading("Credit note")
    doc.paragraph(f"Corrects receipt {c.original_receipt_number} (simplified VAT invoice)")
    for line in seller_lines(c.seller):
        doc.paragraph(line)
    doc.pdf.ln(2)
    place = c.location_name + (f", {c.location_address}" if c.location_address else "")
    fields = [
        ("Credit note No.", c.number),
        ("Date of issue", local_time(c.issued_at, c.time_zone)),
        ("Original receipt", f"{c.original_receipt_number} of {local_time(c.original_issued_at, c.time_zone)}"),
        ("Location", place),
        ("EVSE ID", c.evse_id),
    ]
    if c.transaction_number is not None:
        fields.append(("Session", str(c.transaction_number)))
    doc.fields(fields)
    doc.table(
        ["Item", "Amount"],
        [[ln.description, money(ln.amount_minor)] for ln in c.lines],
        [0.82, 0.18],
        total=["Total credited", money(c.total_minor)],
    )
    doc.table(
        ["VAT rate", "Net", "VAT corrected", "Gross"],
        [[percent(v.rate_bp), money(v.net_minor), money(v.vat_minor), money(v.gross_minor)] for v in c.vat],
        [0.46, 0.18, 0.18, 0.18],
    )
    doc.fields(
        [("Receipt after correction", f"{money(c.corrected_gross_minor)} incl. VAT {money(c.corrected_vat_minor)}")]
    )
    return doc.output()
