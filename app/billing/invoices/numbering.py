"""Invoice numbers: gapless per operator and year, from a counter row (see ``InvoiceService.issue``)."""

from __future__ import annotations

import base64
import uuid


def invoice_number(party_id: str, year: int, sequence: int) -> str:
    return f"{party_id}-{year}-{sequence:06d}"


def counter_name(operator_id: uuid.UUID, year: int) -> str:
    """The counter of an operator's invoice numbers in a year; ``counters.name`` holds 32
    characters, so the operator id goes in as 22 base64 characters."""
    key = base64.urlsafe_b64encode(operator_id.bytes).decode().rstrip("=")
    return f"inv:{key}:{year}"
