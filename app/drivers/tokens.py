"""A sign-in's tokens: a short-lived access token and a rotating refresh token, one family
per sign-in. A refresh token is good once; one spent coming back revokes its family."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import msgspec
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.database import claim
from app.core.errors import InvalidToken
from app.core.security import TokenError, decode_token, issue_access_token, issue_refresh_token
from app.core.settings import AuthSettings
from app.drivers.errors import RefreshTokenReused, UserNotFound
from app.drivers.models import RefreshToken, User


class TokenPair(msgspec.Struct, frozen=True, kw_only=True):
    access_token: str
    refresh_token: str
    expires_in_s: int


class SignInTokens:
    """Issue, rotate and revoke a user's tokens. ``auth`` is needed only to issue or read
    them. Public methods own their transaction; ``new_pair`` and ``revoke_all`` leave the
    commit to the caller."""

    def __init__(self, db: AsyncSession, auth: AuthSettings | None, *, clock: Callable[[], datetime]) -> None:
        self.db = db
        self._auth = auth
        self.clock = clock

    @property
    def auth(self) -> AuthSettings:
        if self._auth is None:
            raise RuntimeError("UserService needs AuthSettings to issue tokens")
        return self._auth

    async def issue(self, user: User) -> TokenPair:
        """A new access token and the first refresh token of a new family."""
        pair = self.new_pair(user, uuid.uuid4(), self.clock())
        await self.db.commit()
        return pair

    async def refresh(self, refresh_token: str) -> TokenPair:
        """Spend a refresh token for a new pair in the same family.

        A token is good once. When a spent one comes back, either the client or a thief
        holds a copy and we cannot tell which, so the whole family is revoked.
        """
        token_id, user_id = self._claims(refresh_token)
        now = self.clock()
        row = await self.db.get(RefreshToken, token_id)
        if row is None or row.user_id != user_id:
            raise InvalidToken("refresh token: unknown")
        family_id = row.family_id
        if row.used_at is not None:
            await self._revoke_family(family_id, now)
            raise RefreshTokenReused()
        if row.revoked_at is not None:
            raise InvalidToken("refresh token: revoked")
        if row.expires_at <= now:
            raise InvalidToken("refresh token: expired")
        user = await self.db.get(User, user_id)
        if user is None or not user.active:
            raise InvalidToken("refresh token: the user is not active")
        # Conditional, so two concurrent uses of one token cannot both succeed.
        spent = await claim(
            self.db,
            update(RefreshToken)
            .where(
                RefreshToken.id == token_id,
                RefreshToken.used_at.is_(None),
                RefreshToken.revoked_at.is_(None),
            )
            .values(used_at=now),
        )
        if not spent:
            await self.db.rollback()
            await self._revoke_family(family_id, now)
            raise RefreshTokenReused()
        pair = self.new_pair(user, family_id, now)
        await self.db.commit()
        return pair

    async def log_out(self, refresh_token: str) -> None:
        """Revoke the family of ``refresh_token`` (spent or not): that sign-in ends."""
        token_id, user_id = self._claims(refresh_token)
        row = await self.db.get(RefreshToken, token_id)
        if row is None or row.user_id != user_id:
            raise InvalidToken("refresh token: unknown")
        await self._revoke_family(row.family_id, self.clock())

    async def revoke_all(self, user_id: uuid.UUID, now: datetime) -> int:
        """Bump the token version (one statement, so concurrent bumps both count) and revoke
        every refresh token; the new version. The caller commits."""
        version = await self.db.scalar(
            update(User)
            .where(User.id == user_id)
            .values(token_version=User.token_version + 1)
            .returning(User.token_version)
        )
        if version is None:
            raise UserNotFound()
        await self.db.execute(
            update(RefreshToken)
            .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        return int(version)

    def new_pair(self, user: User, family_id: uuid.UUID, now: datetime, *, version: int | None = None) -> TokenPair:
        """A pair in ``family_id``, its refresh token added to the session. The caller commits."""
        row = RefreshToken(
            id=uuid.uuid4(),
            user_id=user.id,
            family_id=family_id,
            expires_at=now + timedelta(seconds=self.auth.refresh_token_ttl_s),
            created_at=now,
        )
        self.db.add(row)
        access, ttl = issue_access_token(
            self.auth,
            subject=user.id,
            role=user.role,
            now=now,
            version=user.token_version if version is None else version,
        )
        refresh = issue_refresh_token(self.auth, subject=user.id, token_id=row.id, expires_at=row.expires_at, now=now)
        return TokenPair(access_token=access, refresh_token=refresh, expires_in_s=ttl)

    def _claims(self, refresh_token: str) -> tuple[uuid.UUID, uuid.UUID]:
        """The token id and user id of a genuine, unexpired refresh token."""
        try:
            claims = decode_token(self.auth, refresh_token, expected_type="refresh")
            return uuid.UUID(str(claims["jti"])), uuid.UUID(str(claims["sub"]))
        except (TokenError, KeyError, ValueError) as exc:
            raise InvalidToken(f"refresh token: {exc}") from None

    async def _revoke_family(self, family_id: uuid.UUID, now: datetime) -> None:
        await self.db.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        await self.db.commit()
