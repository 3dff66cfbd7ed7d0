"""Sign-in and sign-up attempts counted in the database, so every API process sees the same.

Three kinds of key:
- ``login:<email>|<address>``: failed sign-ins of one account from one address. A few are
  free, then each failure blocks that pair for a doubling time (back-off). The account
  itself is never locked: its owner signs in from another address while a stranger is
  held off, so failures cannot be used to deny the owner access.
- ``address:<ip>``: failed sign-ins from one address over all accounts, a looser limit in
  a fixed window, against spraying one password over many accounts.
- ``signup:<ip>``: sign-ups from one address in a fixed window, successful or not.

An attempt is *reserved* before the password is checked (counted as if it failed) and
given back when it succeeds: a burst of parallel guesses cannot all pass a check that
runs before any of them is counted. Each counter change is one atomic upsert, which also
holds the row until the caller commits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, literal, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.database import UtcDateTime
from app.drivers.errors import LoginRateLimited, SignUpRateLimited
from app.drivers.models import LoginAttempt

MAX_KEY_LENGTH = 300


@dataclass(frozen=True, slots=True)
class LoginLimits:
    # Failed sign-ins of one account from one address before the back-off starts; then
    # each failure blocks the pair for backoff_base_s, doubling up to backoff_max_s.
    free_failures: int = 5
    backoff_base_s: int = 30
    backoff_max_s: int = 15 * 60
    # A pair's failures are forgotten this long after its last one (and on a success).
    backoff_memory_s: int = 24 * 3600
    # Failed sign-ins from one address, whatever the account, per window.
    per_address: int = 20
    window_s: int = 15 * 60
    # Sign-ups from one address per signup_window_s.
    signups_per_address: int = 10
    signup_window_s: int = 3600

    def backoff_s(self, failures: int) -> int:
        """How long the pair is blocked after its ``failures``-th failure (0: not blocked)."""
        over = failures - self.free_failures
        if over < 0:
            return 0
        return int(min(self.backoff_max_s, self.backoff_base_s * 2 ** min(over, 32)))


DEFAULT_LOGIN_LIMITS = LoginLimits()


def login_key(email: str, address: str | None) -> str:
    # Counted for unknown emails too: a 429 must not tell which accounts exist.
    return f"login:{email.strip().lower()}|{address or ''}"[:MAX_KEY_LENGTH]


def address_key(address: str) -> str:
    return f"address:{address}"[:MAX_KEY_LENGTH]


def signup_key(address: str) -> str:
    return f"signup:{address}"[:MAX_KEY_LENGTH]


class LoginThrottle:
    """The caller commits; each method leaves its changes in ``db``'s transaction."""

    def __init__(self, db: AsyncSession, limits: LoginLimits = DEFAULT_LOGIN_LIMITS) -> None:
        self.db = db
        self.limits = limits

    async def reserve_sign_in(self, email: str, address: str | None, now: datetime) -> None:
        """Count one sign-in attempt of ``email`` from ``address``; LoginRateLimited when the
        pair is in its back-off or the address is over its limit. A refused attempt is not
        checked, and never lengthens a block."""
        retry_after = await self._reserve_backoff(login_key(email, address), now)
        if address and not retry_after:
            limits = self.limits
            retry_after = await self._reserve_window(address_key(address), limits.per_address, limits.window_s, now)
        if retry_after > 0:
            raise LoginRateLimited(retry_after_s=max(1, math.ceil(retry_after)))

    async def succeeded_sign_in(self, email: str, address: str | None, now: datetime) -> None:
        """The reserved attempt succeeded: the pair forgets its failures and the address
        gets its attempt back."""
        await self.db.execute(delete(LoginAttempt).where(LoginAttempt.key == login_key(email, address)))
        if address:
            window_open = LoginAttempt.window_start > literal(
                now - timedelta(seconds=self.limits.window_s), UtcDateTime()
            )
            await self.db.execute(
                update(LoginAttempt)
                .where(LoginAttempt.key == address_key(address), LoginAttempt.failures > 0, window_open)
                .values(failures=LoginAttempt.failures - 1)
            )

    async def reserve_sign_up(self, address: str | None, now: datetime) -> None:
        """Count one sign-up from ``address``; SignUpRateLimited over the limit."""
        if not address:
            return
        limits = self.limits
        retry_after = await self._reserve_window(
            signup_key(address), limits.signups_per_address, limits.signup_window_s, now
        )
        if retry_after > 0:
            raise SignUpRateLimited(retry_after_s=max(1, math.ceil(retry_after)))

    async def _reserve_backoff(self, key: str, now: datetime) -> float:
        """Seconds the key is still blocked (the attempt is then not counted), or 0 after
        counting it; a failure past the free ones blocks the key from now on."""
        now_value = literal(now, UtcDateTime())
        blocked = LoginAttempt.blocked_until > now_value
        forgotten = LoginAttempt.window_start <= literal(
            now - timedelta(seconds=self.limits.backoff_memory_s), UtcDateTime()
        )
        stmt = (
            self._insert()
            .values(key=key, window_start=now, failures=1)
            .on_conflict_do_update(
                index_elements=[LoginAttempt.key],
                # Every right-hand side sees the row as it was before this update.
                set_={
                    "failures": case((blocked, LoginAttempt.failures), (forgotten, 1), else_=LoginAttempt.failures + 1),
                    "window_start": case((blocked, LoginAttempt.window_start), else_=now_value),
                },
            )
            .returning(LoginAttempt.failures, LoginAttempt.blocked_until)
        )
        row = (await self.db.execute(stmt)).one()
        if row.blocked_until is not None and row.blocked_until > now:
            return (row.blocked_until - now).total_seconds()
        # Counted: when this attempt turns out to be a failure past the free ones, the
        # next one waits. Set now, before the check, so parallel guesses wait too.
        backoff = self.limits.backoff_s(int(row.failures))
        if backoff:
            await self.db.execute(
                update(LoginAttempt)
                .where(LoginAttempt.key == key)
                .values(blocked_until=now + timedelta(seconds=backoff))
            )
        return 0.0

    async def _reserve_window(self, key: str, limit: int, window_s: int, now: datetime) -> float:
        """Count one attempt in the key's fixed window: the seconds until the window ends
        when it is now over ``limit``, else 0."""
        now_value = literal(now, UtcDateTime())
        expired = LoginAttempt.window_start <= literal(now - timedelta(seconds=window_s), UtcDateTime())
        stmt = (
            self._insert()
            .values(key=key, window_start=now, failures=1)
            .on_conflict_do_update(
                index_elements=[LoginAttempt.key],
                set_={
                    "failures": case((expired, 1), else_=LoginAttempt.failures + 1),
                    "window_start": case((expired, now_value), else_=LoginAttempt.window_start),
                },
            )
            .returning(LoginAttempt.failures, LoginAttempt.window_start)
        )
        row = (await self.db.execute(stmt)).one()
        if row.failures <= limit:
            return 0.0
        return (row.window_start + timedelta(seconds=window_s) - now).total_seconds()

    def _insert(self):  # type: ignore[no-untyped-def]
        dialect = self.db.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        return insert(LoginAttempt)
