"""An invoice as a PDF."""

from __future__ import annotations

from datetime import UTC, timedelta

from app.billing.formatting import local_time, percent
from app.billing.invoices.schemas import InvoiceOut
from app.billing.pdf import PdfDocument
from app.tariffs.pricing import format_minor


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
