"""The secret link of a web-checkout payment: the only credential an ad-hoc payer has."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, UtcDateTime, new_id, utcnow


class CheckoutLink(Base):
    """``/c/s/{token}`` for one payment. Only the token's SHA-256 is stored: a database
    reader cannot open (or stop) anyone's session."""

    __tablename__ = "checkout_links"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments.id"), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The language the payer chose the page in: the e-mailed link opens in it too.
    lang: Mapped[str] = mapped_column(String(2), default="en")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
