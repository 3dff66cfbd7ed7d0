"""The staff users of one operator company: add, list, change role, deactivate.

A company always keeps one active admin: the change that would leave it none is refused,
and changes to a company's admins are serialised on its row, so two admins demoting each
other at once cannot both succeed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import ADMIN, TENANT_ROLES
from app.core.database import utcnow
from app.drivers.errors import InvalidRole
from app.drivers.models import RefreshToken, User
from app.drivers.service import UserService
from app.operators.errors import LastAdmin, StaffNotFound
from app.operators.models import Operator


def check_staff_role(role: str) -> str:
    if role not in TENANT_ROLES:
        raise InvalidRole(f"{role!r}: use one of {', '.join(sorted(TENANT_ROLES))}", field="role")
    return role


class StaffService:
    """Users of the company ``tenant_id``; another company's user is ``staff.not_found``."""

    def __init__(self, db: AsyncSession, tenant_id: uuid.UUID, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.tenant_id = tenant_id
        self.clock = clock

    async def create(self, *, email: str, password: str, role: str) -> User:
        return await UserService(self.db).create_user(email, password, check_staff_role(role), self.tenant_id)

    async def list(self, *, limit: int, offset: int) -> tuple[list[User], int]:
        mine = User.operator_id == self.tenant_id
        rows = await self.db.scalars(select(User).where(mine).order_by(User.email).limit(limit).offset(offset))
        total = await self.db.scalar(select(func.count()).select_from(User).where(mine))
        return list(rows), int(total or 0)

    async def get(self, user_id: uuid.UUID) -> User:
        user = await self.db.scalar(select(User).where(User.id == user_id, User.operator_id == self.tenant_id))
        if user is None:
            raise StaffNotFound(f"no staff user {user_id}")
        return user

    async def update(self, user_id: uuid.UUID, *, role: str | None = None, active: bool | None = None) -> User:
        """Change the role and/or the active flag. Deactivating bumps the token version and
        revokes the refresh tokens, so the user's tokens stop at once (and stay stopped
        should the user be reactivated)."""
        if role is not None:
            check_staff_role(role)
        # Lock the company row first (PostgreSQL; SQLite writes one at a time anyway).
        await self.db.scalar(select(Operator.id).where(Operator.id == self.tenant_id).with_for_update())
        user = await self.get(user_id)
        was_admin = user.active and user.role == ADMIN
        if role is not None:
            user.role = role
        deactivated = active is False and user.active
        if active is not None:
            user.active = active
        if was_admin and not (user.active and user.role == ADMIN) and await self._other_active_admins(user.id) == 0:
            await self.db.rollback()
            raise LastAdmin("make another user admin first")
        if deactivated:
            await self.db.execute(update(User).where(User.id == user.id).values(token_version=User.token_version + 1))
            await self.db.execute(
                update(RefreshToken)
                .where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
                .values(revoked_at=self.clock())
            )
        await self.db.commit()
        await self.db.refresh(user)
        return user

    async def _other_active_admins(self, user_id: uuid.UUID) -> int:
        count = await self.db.scalar(
            select(func.count())
            .select_from(User)
            .where(User.operator_id == self.tenant_id, User.role == ADMIN, User.active.is_(True), User.id != user_id)
        )
        return int(count or 0)
