"""Errors of receipts and credit notes (``receipt.not_found`` is in app/billing/errors.py)."""

from __future__ import annotations

from app.core.errors import NotFound


class CreditNoteNotFound(NotFound):
    code = "credit_note.not_found"
    status = 404
    title = "No credit note: the payment or refund does not exist, or the PSP has not refunded yet"
