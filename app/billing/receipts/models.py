"""Issued receipts and credit notes: the numbered VAT documents of card payments.

A receipt (``refund_seq`` 0) is issued once per payment that took money; a credit note
(``refund_seq`` = the refund's ``seq``) once per refund the PSP completed. The row keeps
the number, the date of issue, the amounts and VAT as issued and the seller as it was
then, so a later change of the tenant's address does not rewrite an issued document.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, UtcDateTime, new_id


class ReceiptDocument(Base):
    __tablename__ = "receipt_documents"
    __table_args__ = (
        UniqueConstraint("payment_id", "refund_seq"),
        UniqueConstraint("operator_id", "number"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    operator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("operators.id"), index=True)
    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments.id"))
    refund_seq: Mapped[int] = mapped_column(Integer)  # 0: the receipt; n: the credit note of refund n
    kind: Mapped[str] = mapped_column(String(16))  # receipt | credit_note
    number: Mapped[str] = mapped_column(String(32))  # LAD-R2026-000001 | LAD-C2026-000001
    sequence: Mapped[int] = mapped_column(Integer)  # the number's place in its series (per year)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    currency: Mapped[str] = mapped_column(String(3))
    vat_rate_bp: Mapped[int] = mapped_column(Integer)
    # Signed: a credit note's amounts are negative.
    gross_minor: Mapped[int] = mapped_column(Integer)
    vat_minor: Mapped[int] = mapped_column(Integer)
    net_minor: Mapped[int] = mapped_column(Integer)
    seller: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
