"""Invoice numbers (``LAD-2026-000001``, the party id first), gapless per operator and year.

The counter row is taken in the same database transaction as the invoice's insert
(``InvoiceService.issue``), so a failed or empty issue consumes no number.
"""

from __future__ import annotations

import base64
import uuid


def invoice_number(party_id: str, year: int, sequence: int) -> str:
    """``LAD-2026-000001``: the party id, the year, the sequence number of that year."""
    return f"{party_id}-{year}-{sequence:06d}"


def counter_name(operator_id: uuid.UUID, year: int) -> str:
    """The counter of an operator's invoice numbers in a year; ``counters.name`` holds 32
    characters, so the operator id goes in as 22 base64 characters."""
    key = base64.urlsafe_b64encode(operator_id.bytes).decode().rstrip("=")
    return f"inv:{key}:{year}"
