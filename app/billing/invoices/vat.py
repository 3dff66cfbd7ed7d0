"""An invoice's VAT per rate (pure)."""

from __future__ import annotations

from collections.abc import Sequence

from app.billing.invoices.schemas import InvoiceLineOut, InvoiceVatOut
from app.tariffs.pricing import vat_of


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
