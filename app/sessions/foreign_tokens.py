"""Tokens another platform issued: a roaming partner's drivers charging on our chargers.

The sessions area knows nothing of roaming. It asks this protocol about a token it does not
know itself, and tells it when a transaction gets its token and when one ends, inside the
transaction's own database transaction (so what the implementation writes commits, or rolls
back, with the transaction). An entry point wires roaming's implementation in
(app/runner.py); without one, an unknown token stays Unknown.
"""

from __future__ import annotations

import uuid
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from app.chargers.service import ChargerRef
from app.sessions.models import Transaction
from app.sessions.types import AuthInfo


class ForeignTokens(Protocol):
    async def authorize(
        self,
        db: AsyncSession,
        charger: ChargerRef,
        token: str,
        token_type: str | None,
        *,
        for_tx: uuid.UUID | None = None,
    ) -> AuthInfo | None:
        """The answer for ``token`` at ``charger``; None when it is not a foreign token
        either. ``for_tx``: the transaction it is being used in, if known (a resent start,
        a stop): a token is still good for its own running session."""
        ...

    async def transaction_started(self, db: AsyncSession, charger: ChargerRef, tx: Transaction) -> None:
        """``tx`` has its token now (flushed, not committed): record it if the token is foreign."""
        ...

    async def transaction_ended(self, db: AsyncSession, charger: ChargerRef, tx: Transaction) -> None:
        """``tx`` has just completed (flushed, not committed)."""
        ...
