"""Accounts, sign-in with rotating refresh tokens, and the id tokens chargers authorise.

Each public method owns its database transaction.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import msgspec
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import ROLES, TENANT_ROLES
from app.core.database import claim, utcnow
from app.core.errors import InvalidToken
from app.core.security import (
    TokenError,
    decode_token,
    dummy_user_hash,
    hash_user_password,
    in_kdf_pool,
    issue_access_token,
    issue_refresh_token,
    verify_user_password,
)
from app.core.settings import AuthSettings
from app.drivers.errors import (
    EmailTaken,
    IdTokenAlreadyExists,
    IdTokenNotFound,
    IdTokenTaken,
    InvalidCredentials,
    InvalidEmail,
    InvalidIdToken,
    InvalidRole,
    LoginRateLimited,
    PasswordIsEmail,
    PasswordTooLong,
    RefreshTokenReused,
    UserAlreadyExists,
    UserNotFound,
    WeakPassword,
    WrongPassword,
)
from app.drivers.models import IdToken, RefreshToken, User
from app.drivers.payment_methods import PaymentMethodService
from app.drivers.throttle import DEFAULT_LOGIN_LIMITS, LoginLimits, LoginThrottle, account_key, address_key
from payments.registry import Providers
from payments.service import SavedCard

MIN_PASSWORD_LENGTH = 10
# argon2 hashes whatever it is given; a cap keeps a megabyte "password" from costing us.
MAX_PASSWORD_LENGTH = 1024
# Deliberately loose: the only real check of an address is a mail that arrives.
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
MAX_EMAIL_LENGTH = 254

# OCPP 2.0.1 IdTokenEnumType; 1.6 chargers only send idTags, stored as ISO14443.
ID_TOKEN_TYPES = frozenset(
    {"Central", "eMAID", "ISO14443", "ISO15693", "KeyCode", "Local", "MacAddress", "NoAuthorization"}
)
ID_TOKEN_STATUSES = frozenset({"Accepted", "Blocked", "Expired"})
MAX_ID_TOKEN_LENGTH = 36


class TokenPair(msgspec.Struct, frozen=True, kw_only=True):
    access_token: str
    refresh_token: str
    expires_in_s: int


def normalize_email(email: str) -> str:
    normalized = email.strip().lower()
    if len(normalized) > MAX_EMAIL_LENGTH or not EMAIL_PATTERN.fullmatch(normalized):
        raise InvalidEmail(f"{email!r} is not an email address", field="email")
    return normalized


def validate_password(password: str, email: str | None = None, *, field: str = "password") -> None:
    """At least 10 characters, at most 1024, and not the account's (normalised) email."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(field=field)
    if len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordTooLong(field=field)
    if email is not None and password.strip().lower() == email:
        raise PasswordIsEmail(field=field)


class UserService:
    """Users and their sessions. ``auth`` is needed only to issue or refresh tokens,
    ``providers`` only for saved payment methods."""

    def __init__(
        self,
        db: AsyncSession,
        auth: AuthSettings | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
        providers: Providers | None = None,
        login_limits: LoginLimits = DEFAULT_LOGIN_LIMITS,
    ) -> None:
        self.db = db
        self._auth = auth
        self.clock = clock
        self.providers = providers
        self.throttle = LoginThrottle(db, login_limits)

    @property
    def auth(self) -> AuthSettings:
        if self._auth is None:
            raise RuntimeError("UserService needs AuthSettings to issue tokens")
        return self._auth

    async def create_user(self, email: str, password: str, role: str, operator_id: uuid.UUID | None = None) -> User:
        """Create an active user; the email is stored lower-cased."""
        email = normalize_email(email)
        validate_password(password, email)
        if role not in ROLES:
            raise InvalidRole(f"{role!r}: use one of {', '.join(sorted(ROLES))}", field="role")
        if (role in TENANT_ROLES) != (operator_id is not None):
            raise InvalidRole(f"{role!r}: staff roles belong to an operator company, others to none", field="role")
        if await self.db.scalar(select(User.id).where(User.email == email)) is not None:
            raise UserAlreadyExists(f"{email} is already registered", field="email")
        password_hash = await in_kdf_pool(hash_user_password, password)
        user = User(email=email, password_hash=password_hash, role=role, operator_id=operator_id)
        self.db.add(user)
        try:
            await self.db.commit()
        except IntegrityError:
            # The same email registered concurrently: the unique index decided.
            await self.db.rollback()
            raise UserAlreadyExists(f"{email} is already registered", field="email") from None
        return user

    async def get(self, user_id: uuid.UUID) -> User:
        user = await self.db.get(User, user_id)
        if user is None:
            raise UserNotFound()
        return user

    async def get_active(self, user_id: uuid.UUID) -> User | None:
        user = await self.db.get(User, user_id)
        return user if user is not None and user.active else None

    async def authenticate(self, email: str, password: str) -> User:
        """The active user with these credentials, or InvalidCredentials.

        An unknown email costs one argon2 verification like a wrong password does, so
        the answer's timing does not tell which emails are registered.
        """
        user = await self.db.scalar(select(User).where(User.email == email.strip().lower()))
        password_hash = user.password_hash if user is not None else dummy_user_hash()
        ok = await in_kdf_pool(verify_user_password, password_hash, password)
        if user is None or not ok or not user.active:
            raise InvalidCredentials()
        return user

    async def sign_in(self, email: str, password: str, *, address: str | None = None) -> TokenPair:
        """Authenticate and start a new refresh-token family.

        Failures are counted per account (even an unknown one) and per client ``address``;
        over a limit the answer is LoginRateLimited, before any password is checked. A
        success counts nothing and clears the account's failures.
        """
        now = self.clock()
        keys = [account_key(email)] + ([address_key(address)] if address else [])
        await self._reserve(keys, now)
        user = await self.authenticate(email, password)  # a failure stays counted
        await self.throttle.release(keys[1:], now)
        await self.throttle.reset(keys[0])
        return await self.issue_tokens(user)

    async def sign_up(self, email: str, password: str, *, address: str | None = None) -> TokenPair:
        """A new driver account, signed in.

        A taken email is answered EmailTaken, which tells that the account exists. That
        is acceptable for sign-up (any sign-up form reveals it, or fails to create the
        account); to slow enumeration, each such answer counts as a failed attempt of the
        client address, like a failed sign-in.
        """
        now = self.clock()
        keys = [address_key(address)] if address else []
        await self._reserve(keys, now)
        try:
            user = await self.create_user(email, password, "driver")
        except UserAlreadyExists:
            raise EmailTaken(field="email") from None
        except Exception:
            await self.throttle.release(keys, now)
            await self.db.commit()
            raise
        await self.throttle.release(keys, now)
        return await self.issue_tokens(user)

    async def _reserve(self, keys: list[str], now: datetime) -> None:
        """Count an attempt before the slow password hash, committed so other processes
        see it at once (see LoginThrottle)."""
        if not keys:
            return
        try:
            await self.throttle.reserve(keys, now)
        except LoginRateLimited:
            await self.db.commit()
            raise
        await self.db.commit()

    async def issue_tokens(self, user: User) -> TokenPair:
        """A new access token and the first refresh token of a new family."""
        pair = self._new_pair(user, uuid.uuid4(), self.clock())
        await self.db.commit()
        return pair

    async def log_out(self, refresh_token: str) -> None:
        """Revoke the family of ``refresh_token`` (spent or not): that sign-in ends."""
        token_id, user_id = self._refresh_claims(refresh_token)
        row = await self.db.get(RefreshToken, token_id)
        if row is None or row.user_id != user_id:
            raise InvalidToken("refresh token: unknown")
        await self._revoke_family(row.family_id, self.clock())

    async def log_out_everywhere(self, user_id: uuid.UUID) -> None:
        """Revoke every refresh token of the user and every access token issued so far."""
        await self._revoke_all(user_id, self.clock())
        await self.db.commit()

    async def change_password(
        self, user_id: uuid.UUID, current_password: str, new_password: str, *, address: str | None = None
    ) -> TokenPair:
        """Check the current password (throttled like a sign-in), store the new one, revoke
        every other token of the user and return a fresh pair."""
        user = await self.get_active(user_id)
        if user is None:
            raise InvalidToken("access token: the user is not active")
        validate_password(new_password, user.email, field="newPassword")
        now = self.clock()
        keys = [account_key(user.email)] + ([address_key(address)] if address else [])
        await self._reserve(keys, now)
        if not await in_kdf_pool(verify_user_password, user.password_hash, current_password):
            raise WrongPassword(field="currentPassword")
        await self.throttle.release(keys[1:], now)
        await self.throttle.reset(keys[0])
        password_hash = await in_kdf_pool(hash_user_password, new_password)
        await self.db.execute(update(User).where(User.id == user_id).values(password_hash=password_hash))
        version = await self._revoke_all(user_id, now)
        pair = self._new_pair(user, uuid.uuid4(), now, version=version)
        await self.db.commit()
        return pair

    async def _revoke_all(self, user_id: uuid.UUID, now: datetime) -> int:
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

    async def saved_card(self, user_id: uuid.UUID, method_ref: str, *, provider: str | None = None) -> SavedCard | None:
        """The user's saved card ``method_ref`` at ``provider`` (default: the drivers' PSP,
        see PaymentMethodService.provider_name) for an off-session hold; None unless the
        PSP lists it for this user's customer and the user has not removed it."""
        return await PaymentMethodService(self.db, self.providers).saved_card(user_id, method_ref, provider=provider)

    async def refresh(self, refresh_token: str) -> TokenPair:
        """Spend a refresh token for a new pair in the same family.

        A token is good once. When a spent one comes back, either the client or a thief
        holds a copy and we cannot tell which, so the whole family is revoked.
        """
        token_id, user_id = self._refresh_claims(refresh_token)
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
        user = await self.get_active(user_id)
        if user is None:
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
        pair = self._new_pair(user, family_id, now)
        await self.db.commit()
        return pair

    def _refresh_claims(self, refresh_token: str) -> tuple[uuid.UUID, uuid.UUID]:
        """The token id and user id of a genuine, unexpired refresh token."""
        try:
            claims = decode_token(self.auth, refresh_token, expected_type="refresh")
            return uuid.UUID(str(claims["jti"])), uuid.UUID(str(claims["sub"]))
        except (TokenError, KeyError, ValueError) as exc:
            raise InvalidToken(f"refresh token: {exc}") from None

    def _new_pair(self, user: User, family_id: uuid.UUID, now: datetime, *, version: int | None = None) -> TokenPair:
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

    async def _revoke_family(self, family_id: uuid.UUID, now: datetime) -> None:
        await self.db.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        await self.db.commit()


class IdTokenService:
    def __init__(self, db: AsyncSession) -> None:
        self.db = db

    async def list(self, *, limit: int = 100, offset: int = 0) -> Sequence[IdToken]:
        stmt = select(IdToken).order_by(IdToken.created_at, IdToken.id).limit(limit).offset(offset)
        return (await self.db.scalars(stmt)).all()

    async def count(self) -> int:
        return int(await self.db.scalar(select(func.count()).select_from(IdToken)) or 0)

    async def create(
        self,
        token: str,
        *,
        type: str = "ISO14443",
        status: str = "Accepted",
        expires_at: datetime | None = None,
        user_id: uuid.UUID | None = None,
        group_token: str | None = None,
        label: str | None = None,
        operator_id: uuid.UUID | None = None,
    ) -> IdToken:
        """``operator_id``: the operator company registering the card (it owns the card)."""
        if not 1 <= len(token) <= MAX_ID_TOKEN_LENGTH:
            raise InvalidIdToken(f"token: 1 to {MAX_ID_TOKEN_LENGTH} characters", field="token")
        if type not in ID_TOKEN_TYPES:
            raise InvalidIdToken(f"type: one of {', '.join(sorted(ID_TOKEN_TYPES))}", field="type")
        if status not in ID_TOKEN_STATUSES:
            raise InvalidIdToken("status: Accepted, Blocked or Expired", field="status")
        if expires_at is not None:
            if expires_at.tzinfo is None:
                raise InvalidIdToken("expiresAt needs a time zone", field="expiresAt")
            expires_at = expires_at.astimezone(UTC)
        if group_token is not None and not 1 <= len(group_token) <= MAX_ID_TOKEN_LENGTH:
            raise InvalidIdToken(f"groupToken: 1 to {MAX_ID_TOKEN_LENGTH} characters", field="groupToken")
        if user_id is not None and await self.db.get(User, user_id) is None:
            raise UserNotFound(field="userId")
        if await self.db.scalar(select(IdToken.id).where(IdToken.token == token)) is not None:
            raise IdTokenAlreadyExists(f"{token!r} is already registered", field="token")
        row = IdToken(
            token=token,
            type=type,
            status=status,
            expires_at=expires_at,
            user_id=user_id,
            group_token=group_token,
            label=label,
            operator_id=operator_id,
        )
        self.db.add(row)
        try:
            await self.db.commit()
        except IntegrityError:
            await self.db.rollback()
            raise IdTokenAlreadyExists(f"{token!r} is already registered", field="token") from None
        return row

    # -- a driver's own tokens ---------------------------------------------------------

    async def list_for_user(self, user_id: uuid.UUID, *, limit: int = 100, offset: int = 0) -> Sequence[IdToken]:
        stmt = (
            select(IdToken)
            .where(IdToken.user_id == user_id)
            .order_by(IdToken.created_at, IdToken.id)
            .limit(limit)
            .offset(offset)
        )
        return (await self.db.scalars(stmt)).all()

    async def count_for_user(self, user_id: uuid.UUID) -> int:
        stmt = select(func.count()).select_from(IdToken).where(IdToken.user_id == user_id)
        return int(await self.db.scalar(stmt) or 0)

    async def link(self, user_id: uuid.UUID, token: str, *, type: str, label: str | None = None) -> IdToken:
        """Link ``token`` to the user: a new one is registered, an unowned one the operator
        registered is taken over (its type and status stay the operator's), the user's own
        is returned (label updated). Someone else's is IdTokenTaken."""
        if not 1 <= len(token) <= MAX_ID_TOKEN_LENGTH or token != token.strip():
            raise InvalidIdToken(f"token: 1 to {MAX_ID_TOKEN_LENGTH} characters, no surrounding spaces", field="token")
        if type not in ID_TOKEN_TYPES:
            raise InvalidIdToken(f"type: one of {', '.join(sorted(ID_TOKEN_TYPES))}", field="type")
        for _ in range(2):  # a second round only after losing a race for the same token
            row = await self.db.scalar(select(IdToken).where(IdToken.token == token))
            if row is None:
                row = IdToken(token=token, type=type, user_id=user_id, label=label)
                self.db.add(row)
                try:
                    await self.db.commit()
                except IntegrityError:
                    await self.db.rollback()
                    continue
                return row
            if row.user_id is not None and row.user_id != user_id:
                raise IdTokenTaken(field="token")
            # Conditional, so of two drivers linking one unowned card only one gets it.
            linked = await claim(
                self.db,
                update(IdToken)
                .where(IdToken.id == row.id, (IdToken.user_id.is_(None)) | (IdToken.user_id == user_id))
                .values(user_id=user_id, label=label if label is not None else row.label),
            )
            if not linked:
                await self.db.rollback()
                continue
            await self.db.commit()
            await self.db.refresh(row)
            return row
        raise IdTokenTaken(field="token")

    async def remove_for_user(self, user_id: uuid.UUID, id_token_id: uuid.UUID) -> None:
        """Delete the user's token, so chargers stop accepting it (a lost card); someone
        else's is IdTokenNotFound. Past sessions keep the token's text."""
        removed = await claim(self.db, delete(IdToken).where(IdToken.id == id_token_id, IdToken.user_id == user_id))
        if not removed:
            await self.db.rollback()
            raise IdTokenNotFound()
        await self.db.commit()

    # -- an operator company's cards (the operator API) ----------------------------------

    async def list_of_operator(self, operator_id: uuid.UUID, *, limit: int = 100, offset: int = 0) -> Sequence[IdToken]:
        """The cards ``operator_id`` registered; another company's are never listed."""
        stmt = select(IdToken).where(IdToken.operator_id == operator_id)
        stmt = stmt.order_by(IdToken.created_at, IdToken.id).limit(limit).offset(offset)
        return (await self.db.scalars(stmt)).all()

    async def count_of_operator(self, operator_id: uuid.UUID) -> int:
        stmt = select(func.count()).select_from(IdToken).where(IdToken.operator_id == operator_id)
        return int(await self.db.scalar(stmt) or 0)
