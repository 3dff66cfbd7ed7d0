"""Password hashing, digests of random secrets, and JWTs."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
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
    """argon2id hashers for users' and (before hmac-sha256, see hash_charger_password)
    chargers' passwords, at the costs in AuthSettings.

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
        # Chargers' hashes from before hmac-sha256: it verifies them (their parameters are
        # in the hash); nothing makes new ones but tests and the bench's baseline.
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


# Chargers' passwords are machine-made secrets of 16-40 characters (OCPP security profiles
# 1/2), checked at every first contact: a storm of 19,000 chargers onto a fresh bridge must
# not cost 19,000 KDF runs. A per-charger random salt keyed into HMAC-SHA256 makes each
# stored hash unique (no precomputed tables, no two chargers comparable); the guessing an
# argon2 cost would slow down is ruled out by the password rule instead (see
# app/chargers/passwords.py and docs/ocpp.md). Format: ``$hmac-sha256$<salt>$<mac>``, both
# unpadded base64.
CHARGER_HASH_PREFIX = "$hmac-sha256$"
_CHARGER_SALT_BYTES = 16


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def hash_charger_password(password: str) -> str:
    """The stored form of a charger's password: salted HMAC-SHA256, microseconds to check."""
    salt = secrets.token_bytes(_CHARGER_SALT_BYTES)
    mac = hmac.digest(salt, password.encode(), "sha256")
    return f"{CHARGER_HASH_PREFIX}{_b64(salt)}${_b64(mac)}"


def charger_hash_is_current(password_hash: str) -> bool:
    """False for a hash of an older format (argon2id): it verifies, but slowly; the bridge
    replaces it at the charger's next successful login."""
    return password_hash.startswith(CHARGER_HASH_PREFIX)


def verify_charger_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` is the one ``password_hash`` was made from, in either format.
    The current one compares in constant time; an argon2id one takes the KDF's time."""
    if charger_hash_is_current(password_hash):
        try:
            salt_b64, mac_b64 = password_hash[len(CHARGER_HASH_PREFIX) :].split("$")
            salt, stored = _unb64(salt_b64), _unb64(mac_b64)
        except ValueError:  # binascii.Error included
            return False
        return hmac.compare_digest(stored, hmac.digest(salt, password.encode(), "sha256"))
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
