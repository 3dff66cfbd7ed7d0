"""HTTP (operator): transactions with their meter samples. Mounted under the operator router."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from litestar import Controller, get
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import OPERATOR_PROBLEMS
from app.core.http import PageParams, problems
from app.sessions.errors import TransactionNotFound
from app.sessions.schemas import TransactionOut, TransactionPageOut, TransactionSummaryOut
from app.sessions.service import TransactionService


def provide_transactions(db: NamedDependency[AsyncSession], state: State, tenant_id: uuid.UUID) -> TransactionService:
    # Only transactions on the caller's tenant's chargers.
    return TransactionService(db, state.bus, tenant_id=tenant_id)


class TransactionController(Controller):
    path = "/transactions"
    tags = ("transactions",)
    dependencies = {"transactions": Provide(provide_transactions, sync_to_thread=False)}  # noqa: RUF012 (read once by Litestar)

    @get(
        "/",
        operation_id="ListTransactions",
        summary="Transactions, newest first",
        responses=problems(*OPERATOR_PROBLEMS),
    )
    async def list_transactions(
        self,
        page: NamedDependency[PageParams],
        transactions: NamedDependency[TransactionService],
        charger_id: Annotated[
            uuid.UUID | None, QueryParameter(name="chargerId", description="Only this charger's")
        ] = None,
        status: Annotated[
            Literal["active", "completed"] | None, QueryParameter(description="active or completed")
        ] = None,
    ) -> TransactionPageOut:
        rows = await transactions.list_with_identities(
            charge_point_id=charger_id, status=status, limit=page.limit, offset=page.offset
        )
        return TransactionPageOut(
            items=[TransactionSummaryOut.of(tx, identity) for tx, identity in rows],
            total=await transactions.count(charge_point_id=charger_id, status=status),
            limit=page.limit,
            offset=page.offset,
        )

    @get(
        "/{transaction_id:uuid}",
        operation_id="GetTransaction",
        summary="A transaction with every meter sample it recorded",
        responses=problems(*OPERATOR_PROBLEMS, TransactionNotFound),
    )
    async def get_transaction(
        self, transaction_id: FromPath[uuid.UUID], transactions: NamedDependency[TransactionService]
    ) -> TransactionOut:
        tx, identity = await transactions.get_with_identity(transaction_id)
        return TransactionOut.detail(tx, identity, list(await transactions.samples(tx.id)))
