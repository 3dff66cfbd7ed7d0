"""Operator companies (tenants), created by a platform admin with their first admin.

Country code + party id make a company one OCPI party and prefix its EVSE IDs, so the pair
is unique (checked here for a clear answer, and by a unique index against races).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import ADMIN
from app.core.errors import DomainError
from app.drivers.models import User
from app.drivers.service import UserService
from app.operators.errors import PartyTaken, TenantInvalid, TenantNotFound
from app.operators.models import Operator

MAX_TENANT_NAME_LENGTH = 100
COUNTRY_CODE = re.compile(r"^[A-Z]{2}$")  # ISO 3166-1 alpha-2
PARTY_ID = re.compile(r"^[A-Z0-9]{3}$")  # OCPI party id


def check_tenant(name: str, country_code: str, party_id: str) -> tuple[str, str, str]:
    """The stripped name, country code and party id, or ``tenant.invalid`` naming the field."""
    name = name.strip()
    if not name or len(name) > MAX_TENANT_NAME_LENGTH or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise TenantInvalid(f"name: 1 to {MAX_TENANT_NAME_LENGTH} printable characters", field="name")
    if not COUNTRY_CODE.fullmatch(country_code):
        raise TenantInvalid("countryCode: an ISO 3166-1 alpha-2 code in capitals, e.g. SE", field="countryCode")
    if not PARTY_ID.fullmatch(party_id):
        raise TenantInvalid("partyId: 3 capital letters or digits, e.g. LAD", field="partyId")
    return name, country_code, party_id


class TenantService:
    def __init__(self, db: AsyncSession) -> None:
        self.db = db

    async def create(
        self, *, name: str, country_code: str, party_id: str, admin_email: str, admin_password: str
    ) -> tuple[Operator, User]:
        """The new company and its first admin, both or neither."""
        name, country_code, party_id = check_tenant(name, country_code, party_id)
        await self._check_party_free(country_code, party_id)
        operator = Operator(name=name, country_code=country_code, party_id=party_id)
        self.db.add(operator)
        try:
            await self.db.flush()
            # Commits the company with its admin; a refused admin leaves neither.
            admin = await UserService(self.db).create_user(admin_email, admin_password, ADMIN, operator.id)
        except IntegrityError:
            await self.db.rollback()
            raise PartyTaken(f"{country_code}*{party_id} is taken", field="partyId") from None
        except DomainError:
            await self.db.rollback()
            raise
        return operator, admin

    async def _check_party_free(self, country_code: str, party_id: str) -> None:
        taken = await self.db.scalar(
            select(Operator.id).where(Operator.country_code == country_code, Operator.party_id == party_id)
        )
        if taken is not None:
            raise PartyTaken(f"{country_code}*{party_id} is taken", field="partyId")

    async def list(self, *, limit: int, offset: int) -> tuple[list[Operator], int]:
        rows = await self.db.scalars(
            select(Operator).order_by(Operator.country_code, Operator.party_id).limit(limit).offset(offset)
        )
        total = await self.db.scalar(select(func.count()).select_from(Operator))
        return list(rows), int(total or 0)

    async def get(self, tenant_id: uuid.UUID) -> Operator:
        operator = await self.db.get(Operator, tenant_id)
        if operator is None:
            raise TenantNotFound(f"no operator company {tenant_id}")
        return operator

    async def find(self, ref: str) -> Operator:
        """A company by id, by party id (when only one company has it) or by ``SE*LAD``."""
        try:
            return await self.get(uuid.UUID(ref))
        except ValueError:
            pass
        country, _, party = ref.upper().rpartition("*")
        query = select(Operator).where(Operator.party_id == party)
        if country:
            query = query.where(Operator.country_code == country)
        found = list(await self.db.scalars(query.limit(2)))
        if not found:
            raise TenantNotFound(f"no operator company {ref!r}")
        if len(found) > 1:
            raise TenantNotFound(f"{ref!r} names several companies; give COUNTRY*PARTY or the id")
        return found[0]

    async def admins(self, tenant_id: uuid.UUID) -> Sequence[User]:
        rows = await self.db.scalars(
            select(User).where(User.operator_id == tenant_id, User.role == ADMIN).order_by(User.created_at)
        )
        return list(rows)
