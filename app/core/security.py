"""Password hashing, digests of random secrets, and JWTs."""

from __future__ import annotations

import asyncio
import hashlib
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


class PasswordHashing:
    """argon2id hashers for users' and chargers' passwords, at the costs in AuthSettings.

    Verifying reads the parameters from the stored hash, so a hash made at another cost
    still verifies: the cost applies to new hashes only.
    """

    def __init__(self, auth: AuthSettings) -> None:
        # People choose weak passwords: the library's recommended cost unless set.
        library = PasswordHasher()
        time_cost, memory_kib = auth.password_time_cost, auth.password_memory_kib
        self.user = PasswordHasher(
            time_cost=library.time_cost if time_cost is None else time_cost,
            memory_cost=library.memory_cost if memory_kib is None else memory_kib,
            parallelism=library.parallelism,
        )
        self.charger = PasswordHasher(
            time_cost=auth.charger_password_time_cost, memory_cost=auth.charger_password_memory_kib, parallelism=1
        )
        self._dummy_user_hash: str | None = None

    @property
    def dummy_user_hash(self) -> str:
        """A hash to verify against when the user does not exist, so the answer takes as
        long as for a wrong password and does not reveal which emails are registered."""
        if self._dummy_user_hash is None:
            self._dummy_user_hash = self.user.hash("not-a-real-password")
        return self._dummy_user_hash


# Process-wide like the KDF pool: the services that hash are built in many places, and the
# cost is fixed at start-up (`laddnat` reads it from LADDNAT_*; the test suite lowers it).
_hashing = PasswordHashing(AuthSettings())


def configure_password_hashing(auth: AuthSettings) -> None:
    """Hash new passwords at the costs in ``auth`` from now on (call at start-up)."""
    global _hashing
    _hashing = PasswordHashing(auth)


# Its own two threads: password checks never queue behind (or bloat) the default pool.
_kdf_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="kdf")


async def in_kdf_pool(fn: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(_kdf_pool, fn, *args)


JWT_ALGORITHM = "HS256"


def hash_user_password(password: str) -> str:
    return _hashing.user.hash(password)


def verify_user_password(password_hash: str, password: str) -> bool:
    try:
        return _hashing.user.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def dummy_user_hash() -> str:
    """The hash an unknown user's sign-in is checked against (see PasswordHashing)."""
    return _hashing.dummy_user_hash


def hash_charger_password(password: str) -> str:
    return _hashing.charger.hash(password)


def verify_charger_password(password_hash: str, password: str) -> bool:
    try:
        return _hashing.charger.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def digest_secret(secret: str) -> str:
    """What is stored of a random secret we issued (an API key, a link or upload token):
    its SHA-256, hex. A secret with that much entropy needs no slow KDF; a password does."""
    return hashlib.sha256(secret.encode()).hexdigest()


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
