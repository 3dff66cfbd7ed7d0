"""A receipt's lines and VAT from the session's price and the amount captured (pure)."""

from __future__ import annotations

from app.billing.receipts.schemas import ReceiptLineOut, VatLineOut
from app.tariffs.pricing import Price, vat_of

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
