"""Console sign-in sessions: opened at sign-in, checked on every request, ended at sign-out.

A session ends when it has been idle ``idle_timeout_s``, when ``absolute_timeout_s`` has
passed since sign-in, when its user is deactivated or no longer an operator company's
staff, or when the user's ``token_version`` moved (log out everywhere, password change).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.console.models import ConsoleSession
from app.core.auth import TENANT_ROLES, Caller
from app.core.database import utcnow
from app.core.security import digest_secret
from app.core.settings import ConsoleSettings
from app.drivers.models import User
from app.operators.models import Operator

# A request refreshes last_seen_at only when it is older than this: not one write per request.
TOUCH_EVERY_S = 60


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A live session and who it belongs to, as a page sees it."""

    session_id: uuid.UUID
    csrf_token: str
    user: User
    tenant_name: str

    @property
    def caller(self) -> Caller:
        return Caller.of_user(self.user)


def may_use_console(user: User) -> bool:
    """Only an operator company's staff: drivers and platform admins have no tenant to show."""
    return user.active and user.role in TENANT_ROLES and user.operator_id is not None


class ConsoleSessions:
    def __init__(self, db: AsyncSession, settings: ConsoleSettings, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock

    async def open(self, user: User, *, replacing: str | None = None) -> str:
        """A new session for ``user``; the cookie's value is returned, only its digest kept.
        The browser's previous session (``replacing``) ends: sign-in rotates the id."""
        if replacing:
            await self.db.execute(delete(ConsoleSession).where(ConsoleSession.id_hash == digest_secret(replacing)))
        await self._delete_expired()  # abandoned sessions go here, without a worker of their own
        now = self.clock()
        raw = secrets.token_urlsafe(32)
        self.db.add(
            ConsoleSession(
                id_hash=digest_secret(raw),
                user_id=user.id,
                token_version=user.token_version,
                csrf_token=secrets.token_urlsafe(32),
                created_at=now,
                last_seen_at=now,
                expires_at=now + timedelta(seconds=self.settings.absolute_timeout_s),
            )
        )
        await self.db.commit()
        return raw

    async def resolve(self, raw: str, *, touch: bool = True) -> SignedIn | None:
        """The live session the cookie names (its use noted unless ``touch`` is False: a
        live stream's checks are not the user's doing), or None; a dead one is deleted."""
        row = await self.db.execute(
            select(ConsoleSession, User, Operator.name)
            .join(User, User.id == ConsoleSession.user_id)
            .outerjoin(Operator, Operator.id == User.operator_id)
            .where(ConsoleSession.id_hash == digest_secret(raw))
        )
        found = row.one_or_none()
        if found is None:
            return None
        session, user, tenant_name = found
        now = self.clock()
        idle = now - session.last_seen_at >= timedelta(seconds=self.settings.idle_timeout_s)
        if (
            idle
            or now >= session.expires_at
            or not may_use_console(user)
            or user.token_version != session.token_version
        ):
            await self.db.delete(session)
            await self.db.commit()
            return None
        if touch and now - session.last_seen_at >= timedelta(
            seconds=min(TOUCH_EVERY_S, self.settings.idle_timeout_s / 10)
        ):
            session.last_seen_at = now
            await self.db.commit()
        return SignedIn(session.id, session.csrf_token, user, tenant_name or "")

    async def end(self, raw: str) -> None:
        await self.db.execute(delete(ConsoleSession).where(ConsoleSession.id_hash == digest_secret(raw)))
        await self.db.commit()

    async def _delete_expired(self) -> None:
        """Delete every session past its absolute or idle expiry (not committed)."""
        now = self.clock()
        idle_since = now - timedelta(seconds=self.settings.idle_timeout_s)
        await self.db.execute(
            delete(ConsoleSession).where(
                (ConsoleSession.expires_at <= now) | (ConsoleSession.last_seen_at <= idle_since)
            )
        )
