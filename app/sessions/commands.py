"""Commands to chargers as the rest of the CSMS names things: a remote stop names our
transaction (its uuid), and the charger needs its own transaction id.

The chargers' area knows no transactions, so this layer resolves the id and hands the
command to ``ChargerCommandService``. Every caller (the operator API, the driver app, the
checkout, billing, health) sends commands through here, with the same validation order,
errors and audit entry whatever the command.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from app.chargers.command_service import ChargerCommandService, parse_args
from app.chargers.commands import RemoteStopArgs
from app.chargers.models import ChargePoint, CommandLog
from app.core.bus import Bus
from app.core.database import utcnow
from app.core.errors import InvalidInput
from app.core.settings import Settings
from app.sessions.errors import TransactionNotActive, TransactionNotFound
from app.sessions.models import Transaction


class CommandService:
    def __init__(
        self,
        db: AsyncSession,
        bus: Bus,
        *,
        public_base_url: str,
        timeout_s: float = 30.0,
        clock: Callable[[], datetime] = utcnow,
        tenant_id: uuid.UUID | None = None,
    ) -> None:
        """``tenant_id``: an operator request's tenant, whose chargers alone it reaches
        (another's is ChargerNotFound); None for the system's own callers."""
        self.db = db
        self.chargers = ChargerCommandService(
            db, bus, public_base_url=public_base_url, timeout_s=timeout_s, clock=clock, tenant_id=tenant_id
        )

    @classmethod
    def of(
        cls,
        db: AsyncSession,
        bus: Bus,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
        tenant_id: uuid.UUID | None = None,
    ) -> CommandService:
        """The service as configured (upload URLs from the public base URL, the command timeout)."""
        return cls(
            db,
            bus,
            public_base_url=settings.http.public_base_url,
            timeout_s=settings.ocpp.command_timeout_s,
            clock=clock,
            tenant_id=tenant_id,
        )

    async def send(
        self,
        charger_id: uuid.UUID,
        name: str,
        raw_args: Any = None,
        *,
        by: uuid.UUID | None = None,
        origin: str = "operator",
    ) -> CommandLog:
        """Send a command and return its audit entry with the charger's answer.

        Raises UnknownCommand or InvalidInput (422) for bad arguments, ChargerNotFound, then
        for a remote stop TransactionNotFound (404) or TransactionNotActive (409); then, as
        ``ChargerCommandService.send``, ChargerOffline (409), ChargerTimeout (504),
        ChargerCallError (502) or InvalidInput (422) after recording the attempt.
        """
        args = parse_args(name, raw_args)
        cp = await self.chargers.charger(charger_id)
        if isinstance(args, RemoteStopArgs):
            args = await self._charger_transaction(cp, args)
        return await self.chargers.send(cp.id, name, args, by=by, origin=origin)

    async def _charger_transaction(self, cp: ChargePoint, args: RemoteStopArgs) -> RemoteStopArgs:
        """The remote stop with the charger's own id of our active transaction ``transactionId``."""
        try:
            tx_id = uuid.UUID(args.transaction_id)
        except ValueError:
            raise InvalidInput("transactionId: not a transaction id", field="transactionId") from None
        tx = await self.db.get(Transaction, tx_id)
        if tx is None or tx.charge_point_id != cp.id:
            raise TransactionNotFound()
        if tx.status != "active":
            raise TransactionNotActive()
        return msgspec.structs.replace(args, charger_transaction_id=tx.charger_transaction_id)
