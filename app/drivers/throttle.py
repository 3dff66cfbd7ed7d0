"""Failed sign-ins counted per account and per client address, in the database.

Fixed windows: a key's counter starts at its first failure and resets once the window has
passed. The counters live in ``login_attempts`` so every API process sees the same ones,
and each change is one atomic upsert.

An attempt is *reserved* before the password is checked (counted as if it failed) and
given back when it succeeds: a burst of parallel guesses cannot all pass a check that
runs before any of them is counted.
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
from app.drivers.errors import LoginRateLimited
from app.drivers.models import LoginAttempt

MAX_KEY_LENGTH = 300


@dataclass(frozen=True, slots=True)
class LoginLimits:
    per_account: int = 5
    per_address: int = 20
    window_s: int = 15 * 60


DEFAULT_LOGIN_LIMITS = LoginLimits()


def account_key(email: str) -> str:
    # Counted for unknown emails too: a 429 must not tell which accounts exist.
    return f"account:{email.strip().lower()}"[:MAX_KEY_LENGTH]


def address_key(address: str) -> str:
    return f"address:{address}"[:MAX_KEY_LENGTH]


class LoginThrottle:
    """The caller commits; each method leaves its changes in ``db``'s transaction."""

    def __init__(self, db: AsyncSession, limits: LoginLimits = DEFAULT_LOGIN_LIMITS) -> None:
        self.db = db
        self.limits = limits

    def _limit(self, key: str) -> int:
        return self.limits.per_account if key.startswith("account:") else self.limits.per_address

    async def reserve(self, keys: list[str], now: datetime) -> None:
        """Count one attempt against each key; LoginRateLimited if any key is now over its
        limit. A refused attempt stays counted; windows are fixed, so that never extends
        a lock-out. The caller commits either way."""
        retry_after: float | None = None
        for key in keys:
            failures, window_start = await self._bump(key, now, +1)
            if failures > self._limit(key):
                left = (window_start + timedelta(seconds=self.limits.window_s) - now).total_seconds()
                retry_after = max(retry_after or 0.0, left)
        if retry_after is not None:
            raise LoginRateLimited(retry_after_s=max(1, math.ceil(retry_after)))

    async def release(self, keys: list[str], now: datetime) -> None:
        """Give back the attempt ``reserve`` counted: it succeeded, so nothing is counted."""
        window_open = LoginAttempt.window_start > literal(self._window_cutoff(now), UtcDateTime())
        await self.db.execute(
            update(LoginAttempt)
            .where(LoginAttempt.key.in_(keys), LoginAttempt.failures > 0, window_open)
            .values(failures=LoginAttempt.failures - 1)
        )

    async def reset(self, key: str) -> None:
        """Forget a key's failures (an account after a successful sign-in)."""
        await self.db.execute(delete(LoginAttempt).where(LoginAttempt.key == key))

    def _window_cutoff(self, now: datetime) -> datetime:
        return now - timedelta(seconds=self.limits.window_s)

    async def _bump(self, key: str, now: datetime, by: int) -> tuple[int, datetime]:
        """Add ``by`` to the key's counter in one statement, starting a new window when the
        old one has passed; the counter and window start after the change."""
        dialect = self.db.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        now_value = literal(now, UtcDateTime())
        expired = LoginAttempt.window_start <= literal(self._window_cutoff(now), UtcDateTime())
        stmt = (
            insert(LoginAttempt)
            .values(key=key, window_start=now, failures=by)
            .on_conflict_do_update(
                index_elements=[LoginAttempt.key],
                # Both right-hand sides see the row as it was before this update.
                set_={
                    "failures": case((expired, by), else_=LoginAttempt.failures + by),
                    "window_start": case((expired, now_value), else_=LoginAttempt.window_start),
                },
            )
            .returning(LoginAttempt.failures, LoginAttempt.window_start)
        )
        row = (await self.db.execute(stmt)).one()
        return int(row.failures), row.window_start
