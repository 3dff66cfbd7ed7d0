"""FleetService: fleet accounts and the id tokens whose sessions they are billed for."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.billing.errors import FleetAccountNotFound, FleetTokenTaken, OperatorRequired
from app.billing.invoices.schemas import FleetAccountIn
from app.billing.models import FleetAccount, FleetToken
from app.core.database import scoped, utcnow
from app.core.errors import InvalidInput
from app.operators.models import Operator
from app.tariffs.pricing import CURRENCIES


class FleetService:
    """``tenant_id``: the operator company whose accounts an operator request may see and
    change (another's are not found); None is the system's own view."""

    def __init__(
        self, db: AsyncSession, *, tenant_id: uuid.UUID | None = None, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.db = db
        self.tenant_id = tenant_id
        self.clock = clock

    async def create(self, data: FleetAccountIn, *, operator_id: uuid.UUID | None = None) -> FleetAccount:
        owner = data.operator_id or self.tenant_id or operator_id
        if owner is None:
            raise OperatorRequired("this user belongs to no operator: give operatorId", field="operatorId")
        # Another operator company is answered as one that does not exist.
        if (self.tenant_id is not None and owner != self.tenant_id) or await self.db.get(Operator, owner) is None:
            raise InvalidInput(f"no operator {owner}", field="operatorId")
        if data.currency not in CURRENCIES:
            raise InvalidInput(f"{data.currency!r} is not an ISO-4217 currency code", field="currency")
        account = FleetAccount(
            operator_id=owner,
            name=data.name,
            organisation_number=data.organisation_number,
            vat_number=data.vat_number,
            billing_email=data.billing_email,
            address=data.address,
            currency=data.currency,
            payment_terms_days=data.payment_terms_days,
            created_at=self.clock(),
        )
        self.db.add(account)
        await self.db.commit()
        return account

    async def get(self, account_id: uuid.UUID) -> FleetAccount:
        stmt = select(FleetAccount).where(FleetAccount.id == account_id)
        account = await self.db.scalar(scoped(stmt, FleetAccount.operator_id, self.tenant_id))
        if account is None:
            raise FleetAccountNotFound()
        return account

    async def search(
        self, *, operator_id: uuid.UUID | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[Sequence[FleetAccount], int]:
        stmt = scoped(select(FleetAccount), FleetAccount.operator_id, self.tenant_id)
        count = scoped(select(func.count()).select_from(FleetAccount), FleetAccount.operator_id, self.tenant_id)
        if operator_id is not None:
            stmt = stmt.where(FleetAccount.operator_id == operator_id)
            count = count.where(FleetAccount.operator_id == operator_id)
        rows = await self.db.scalars(stmt.order_by(FleetAccount.name, FleetAccount.id).limit(limit).offset(offset))
        return rows.all(), int(await self.db.scalar(count) or 0)

    async def tokens(self, account_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
        result: dict[uuid.UUID, list[str]] = {a: [] for a in account_ids}
        if account_ids:
            rows = await self.db.execute(
                select(FleetToken.fleet_account_id, FleetToken.id_token)
                .where(FleetToken.fleet_account_id.in_(account_ids))
                .order_by(FleetToken.id_token)
            )
            for account_id, token in rows:
                result[account_id].append(token)
        return result

    async def link_token(self, account_id: uuid.UUID, id_token: str) -> tuple[FleetToken, bool]:
        """Bill ``id_token``'s sessions to the account; linking it again is a no-op
        (``created`` False), linking a token of another account is ``fleet.token_taken``."""
        await self.get(account_id)
        existing = await self.db.get(FleetToken, id_token)
        if existing is not None:
            if existing.fleet_account_id != account_id:
                # Name the other account only to its own operator company.
                other = await self.db.get(FleetAccount, existing.fleet_account_id)
                mine = other is not None and (self.tenant_id is None or other.operator_id == self.tenant_id)
                where = f"fleet account {existing.fleet_account_id}" if mine else "another fleet account"
                raise FleetTokenTaken(f"{id_token} is billed to {where}")
            return existing, False
        token = FleetToken(id_token=id_token, fleet_account_id=account_id, created_at=self.clock())
        self.db.add(token)
        try:
            await self.db.commit()
        except IntegrityError:
            # Linked by a concurrent request meanwhile: answer as if it had been first.
            await self.db.rollback()
            return await self.link_token(account_id, id_token)
        return token, True
