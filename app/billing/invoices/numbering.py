"""Document numbers, gapless per operator and year: invoices (``LAD-2026-000001``, the party
id first), receipts (``LAD-R2026-000001``) and credit notes (``LAD-C2026-000001``), each its
own series.

The counter row is taken in the same database transaction as the document's insert
(``InvoiceService.issue``, ``receipts.issue.issue_documents``), so a failed or empty issue
consumes no number: ``next_number`` is an UPDATE of the counter row, which holds its row
lock to the commit; a rollback gives the number back, and a concurrent issuer waits and
gets the next one.
"""

from __future__ import annotations

import base64
import uuid
from typing import Literal

DocumentKind = Literal["receipt", "credit_note"]
_SERIES: dict[str, tuple[str, str]] = {"receipt": ("rct", "R"), "credit_note": ("crn", "C")}


def invoice_number(party_id: str, year: int, sequence: int) -> str:
    """``LAD-2026-000001``: the party id, the year, the sequence number of that year."""
    return f"{party_id}-{year}-{sequence:06d}"


def _key(operator_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(operator_id.bytes).decode().rstrip("=")


def counter_name(operator_id: uuid.UUID, year: int) -> str:
    """The counter of an operator's invoice numbers in a year; ``counters.name`` holds 32
    characters, so the operator id goes in as 22 base64 characters."""
    return f"inv:{_key(operator_id)}:{year}"


def document_counter_name(kind: DocumentKind, operator_id: uuid.UUID, year: int) -> str:
    """The counter of an operator's receipts (or credit notes) in a year."""
    return f"{_SERIES[kind][0]}:{_key(operator_id)}:{year}"


def document_number(kind: DocumentKind, party_id: str, year: int, sequence: int) -> str:
    """``LAD-R2026-000001`` (receipt), ``LAD-C2026-000001`` (credit note)."""
    return f"{party_id}-{_SERIES[kind][1]}{year}-{sequence:06d}"
