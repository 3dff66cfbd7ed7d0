"""A tenant's API keys for its own back-office integrations.

A key reads ``lnk_<prefix>_<secret>``: the prefix (10 hex characters, stored as is) finds
the row, the secret (32 random bytes) is kept only as its SHA-256, compared in constant
time. The whole key is answered once, when it is created. A key acts with its roles inside
its company; revoking it refuses it from the next request on.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import ADMIN, API_KEY_PREFIX, TENANT_ROLES, Caller
from app.core.database import utcnow
from app.core.security import digest_secret
from app.operators.errors import ApiKeyInvalid, ApiKeyNotFound, ApiKeyRolesInvalid
from app.operators.models import ApiKey

MAX_KEY_NAME_LENGTH = 100
# Noting every use would write a row per request; once a minute tells "in use" well enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)
_PREFIX_BYTES = 5  # 10 hex characters: finds the row, shown in lists
_SECRET_BYTES = 32


def _split(key: str) -> tuple[str, str] | None:
    """(prefix, secret) of a well-formed key, else None."""
    if not key.startswith(API_KEY_PREFIX):
        return None
    prefix, sep, secret = key[len(API_KEY_PREFIX) :].partition("_")
    if not sep or len(prefix) != 2 * _PREFIX_BYTES or not secret or len(secret) > 100:
        return None
    return prefix, secret


def grantable_roles(caller: Caller) -> frozenset[str]:
    """The roles ``caller`` may put on a key: an admin any tenant role, others their own."""
    if ADMIN in caller.roles:
        return TENANT_ROLES
    return caller.roles & TENANT_ROLES


class ApiKeyService:
    """The keys of one company (``tenant_id``); another's is ``api_key.not_found``."""

    def __init__(self, db: AsyncSession, tenant_id: uuid.UUID, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.tenant_id = tenant_id
        self.clock = clock

    async def create(self, *, name: str, roles: Iterable[str], by: Caller) -> tuple[ApiKey, str]:
        """The new key and its full text (the only time it is returned)."""
        name = name.strip()
        if not name or len(name) > MAX_KEY_NAME_LENGTH:
            raise ApiKeyInvalid(f"name: 1 to {MAX_KEY_NAME_LENGTH} characters, not only spaces", field="name")
        wanted = sorted(set(roles))
        if not wanted:
            raise ApiKeyRolesInvalid("give the key at least one role", field="roles")
        unknown = [r for r in wanted if r not in TENANT_ROLES]
        if unknown:
            raise ApiKeyRolesInvalid(
                f"{', '.join(unknown)}: a key takes only company roles ({', '.join(sorted(TENANT_ROLES))})",
                field="roles",
            )
        beyond = [r for r in wanted if r not in grantable_roles(by)]
        if beyond:
            raise ApiKeyRolesInvalid(f"{', '.join(beyond)}: a key cannot have a role you do not have", field="roles")
        prefix = secrets.token_hex(_PREFIX_BYTES)
        secret = secrets.token_urlsafe(_SECRET_BYTES)
        key = ApiKey(
            operator_id=self.tenant_id,
            name=name,
            prefix=prefix,
            secret_hash=digest_secret(secret),
            roles=wanted,
            created_by=by.id if by.kind == "user" else None,
            created_at=self.clock(),
        )
        self.db.add(key)
        await self.db.commit()
        return key, f"{API_KEY_PREFIX}{prefix}_{secret}"

    async def list(self, *, limit: int, offset: int) -> tuple[list[ApiKey], int]:
        """Newest first, revoked ones included."""
        mine = ApiKey.operator_id == self.tenant_id
        rows = await self.db.scalars(
            select(ApiKey).where(mine).order_by(ApiKey.created_at.desc(), ApiKey.id).limit(limit).offset(offset)
        )
        total = await self.db.scalar(select(func.count()).select_from(ApiKey).where(mine))
        return list(rows), int(total or 0)

    async def get(self, key_id: uuid.UUID) -> ApiKey:
        key = await self.db.scalar(select(ApiKey).where(ApiKey.id == key_id, ApiKey.operator_id == self.tenant_id))
        if key is None:
            raise ApiKeyNotFound(f"no API key {key_id}")
        return key

    async def revoke(self, key_id: uuid.UUID) -> ApiKey:
        """Refuse the key from now on; revoking a revoked key changes nothing."""
        key = await self.get(key_id)
        if key.revoked_at is None:
            key.revoked_at = self.clock()
            await self.db.commit()
        return key


async def load_api_key(db: AsyncSession, key: str, *, clock: Callable[[], datetime] = utcnow) -> Caller | None:
    """The ``ApiKeyLoader`` app/main.py puts on ``app.state.load_api_key``: the caller a live
    key acts as, or None (malformed, unknown, wrong secret or revoked)."""
    parts = _split(key)
    if parts is None:
        return None
    prefix, secret = parts
    row = await db.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    # Hash even for an unknown prefix, so the answer's timing tells nothing.
    presented = digest_secret(secret)
    if row is None or not hmac.compare_digest(presented, row.secret_hash) or row.revoked_at is not None:
        return None
    caller = Caller("api_key", row.id, row.name, row.operator_id, frozenset(row.roles) & TENANT_ROLES)
    now = clock()
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        # Guarded by the old value: concurrent requests write it once.
        await db.execute(
            update(ApiKey)
            .where(
                ApiKey.id == row.id, ApiKey.last_used_at.is_(None) | (ApiKey.last_used_at <= now - LAST_USED_RESOLUTION)
            )
            .values(last_used_at=now)
        )
        await db.commit()
    return caller
