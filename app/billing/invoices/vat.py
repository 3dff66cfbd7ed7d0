"""An invoice's VAT per rate (pure).

Each rate's VAT is extracted once from the sum of that rate's gross amounts (the way an
invoice states VAT), so per rate ``net + vat = gross`` exactly and the invoice totals are the
sums of the rate totals. A line still shows the VAT its session was priced with; the two can
differ by rounding, and the per-rate summary is what counts.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.billing.invoices.schemas import InvoiceLineOut, InvoiceVatOut
from app.tariffs.pricing import vat_of


def vat_summary(lines: Sequence[InvoiceLineOut]) -> list[InvoiceVatOut]:
    """Per VAT rate: the gross sum, and the VAT extracted from it once."""
    gross: dict[int, int] = {}
    for line in lines:
        gross[line.vat_rate_bp] = gross.get(line.vat_rate_bp, 0) + line.total_minor
    result = []
    for rate, total in sorted(gross.items()):
        vat = vat_of(total, rate)
        result.append(InvoiceVatOut(rate_bp=rate, net_minor=total - vat, vat_minor=vat, total_minor=total))
    return result
