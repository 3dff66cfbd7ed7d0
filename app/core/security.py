"""Password hashing and JWTs."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app.core.settings import AuthSettings

T = TypeVar("T")

# People choose weak passwords: argon2id with the library's recommended cost.
_user_hasher = PasswordHasher()
# Charger passwords are machine-generated, 16-40 random characters (OCPP security
# profile 2), so a light argon2id is ample, and a city's reconnect storm stays cheap.
_charger_hasher = PasswordHasher(time_cost=1, memory_cost=2048, parallelism=1)
# Its own two threads: password checks never queue behind (or bloat) the default pool.
_kdf_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="kdf")


async def in_kdf_pool(fn: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(_kdf_pool, fn, *args)


JWT_ALGORITHM = "HS256"


def hash_user_password(password: str) -> str:
    return _user_hasher.hash(password)


def verify_user_password(password_hash: str, password: str) -> bool:
    try:
        return _user_hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def hash_charger_password(password: str) -> str:
    return _charger_hasher.hash(password)


def verify_charger_password(password_hash: str, password: str) -> bool:
    try:
        return _charger_hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# A fixed hash to verify against when the user does not exist, so the answer takes
# as long as for a wrong password and does not reveal which emails are registered.
DUMMY_USER_HASH = _user_hasher.hash("not-a-real-password")


class TokenError(Exception):
    """The token is missing, malformed, expired, or not ours."""


def issue_access_token(
    auth: AuthSettings, *, subject: uuid.UUID, role: str, now: datetime | None = None, version: int = 0
) -> tuple[str, int]:
    """``version``: the user's token version (claim ``ver``); bumping it revokes the token."""
    now = now or datetime.now(UTC)
    claims = {
        "sub": str(subject),
        "role": role,
        "ver": version,
        "iss": auth.issuer,
        "aud": auth.audience,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=auth.access_token_ttl_s)).timestamp()),
        "typ": "access",
    }
    return jwt.encode(claims, auth.secret_key, algorithm=JWT_ALGORITHM), auth.access_token_ttl_s


def issue_refresh_token(
    auth: AuthSettings, *, subject: uuid.UUID, token_id: uuid.UUID, expires_at: datetime, now: datetime
) -> str:
    claims = {
        "sub": str(subject),
        "jti": str(token_id),
        "iss": auth.issuer,
        "aud": auth.audience,
        "iat": int(now.timestamp()),
        "exp": int(expires_at.timestamp()),
        "typ": "refresh",
    }
    return jwt.encode(claims, auth.secret_key, algorithm=JWT_ALGORITHM)


def decode_token(auth: AuthSettings, token: str, *, expected_type: str) -> dict[str, Any]:
    """Decode with the algorithm pinned and exp/iat/iss/aud/sub required."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            auth.secret_key,
            algorithms=[JWT_ALGORITHM],
            audience=auth.audience,
            issuer=auth.issuer,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
    except jwt.PyJWTError as exc:
        raise TokenError(str(exc)) from exc
    if claims.get("typ") != expected_type:
        raise TokenError(f"not an {expected_type} token")
    return claims
