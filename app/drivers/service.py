"""Accounts, sign-in with rotating refresh tokens, and the id tokens chargers authorise.

Each public method owns its database transaction.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import jwt
import msgspec
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import ROLES, TENANT_ROLES
from app.core.database import claim, utcnow
from app.core.errors import InvalidToken
from app.core.security import (
    JWT_ALGORITHM,
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
    IdTokenAlreadyExists,
    IdTokenNotFound,
    IdTokenOperatorCard,
    IdTokenTaken,
    InvalidCredentials,
    InvalidEmail,
    InvalidIdToken,
    InvalidRole,
    InvalidVerification,
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
from app.drivers.throttle import DEFAULT_LOGIN_LIMITS, LoginLimits, LoginThrottle
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


# How long a sign-up link is good for.
VERIFICATION_TTL_S = 24 * 3600


class SignUpMail(msgspec.Struct, frozen=True, kw_only=True):
    """A mail a sign-up sends: the verification link of a new (or still unverified) account,
    or to the owner of a verified one, that someone tried to sign up with their address."""

    to: str
    kind: Literal["verify", "existing"]
    token: str | None = None  # "verify": what the link carries


SignUpMailer = Callable[[SignUpMail], Awaitable[None]]


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
        """Create an active, verified user (operators, the CLI, the demo); the email is
        stored lower-cased. Drivers sign up instead (``sign_up``)."""
        email = normalize_email(email)
        validate_password(password, email)
        if role not in ROLES:
            raise InvalidRole(f"{role!r}: use one of {', '.join(sorted(ROLES))}", field="role")
        if (role in TENANT_ROLES) != (operator_id is not None):
            raise InvalidRole(f"{role!r}: staff roles belong to an operator company, others to none", field="role")
        if await self.db.scalar(select(User.id).where(User.email == email)) is not None:
            raise UserAlreadyExists(f"{email} is already registered", field="email")
        password_hash = await in_kdf_pool(hash_user_password, password)
        user = User(
            email=email, password_hash=password_hash, role=role, operator_id=operator_id, verified_at=self.clock()
        )
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
        """The active, verified user with these credentials, or InvalidCredentials.

        An unknown email costs one argon2 verification like a wrong password does, so
        the answer's timing does not tell which emails are registered.
        """
        user = await self.db.scalar(select(User).where(User.email == email.strip().lower()))
        password_hash = user.password_hash if user is not None else dummy_user_hash()
        ok = await in_kdf_pool(verify_user_password, password_hash, password)
        if user is None or not ok or not user.active or user.verified_at is None:
            raise InvalidCredentials()
        return user

    async def sign_in(self, email: str, password: str, *, address: str | None = None) -> TokenPair:
        """Authenticate and start a new refresh-token family.

        Failures are counted per account and client ``address`` together (even for an
        unknown account) and per address; over a limit the answer is LoginRateLimited,
        before any password is checked. Never per account alone: a stranger's failures do
        not keep the owner out from another address. A success clears the pair's failures.
        """
        return await self.issue_tokens(await self.check_sign_in(email, password, address=address))

    async def check_sign_in(self, email: str, password: str, *, address: str | None = None) -> User:
        """The user these credentials name, counted and throttled like ``sign_in`` (which
        uses it), but issuing no tokens: the operator console keeps a cookie session instead."""
        now = self.clock()
        await self._reserve_sign_in(email, address, now)
        user = await self.authenticate(email, password)  # a failure stays counted
        await self.throttle.succeeded_sign_in(email, address, now)
        await self.db.commit()
        return user

    async def sign_up(self, email: str, password: str, *, mail: SignUpMailer, address: str | None = None) -> None:
        """Ask for a driver account; the answer never tells whether the email is taken.

        A new email gets an unverified account and ``mail`` a verification link (a token
        good for VERIFICATION_TTL_S); signing in waits for ``verify``. An email whose
        account is still unverified gets a new link and the account takes this password;
        a link works only with the latest password, so a stranger's sign-up for someone
        else's address cannot leave the owner with a password the stranger knows.
        A verified account's owner is told by mail that someone tried. Every sign-up from
        an address counts against its limit, whatever the outcome. ``mail`` queues in
        this transaction, which commits at the end.
        """
        email = normalize_email(email)
        validate_password(password, email)
        now = self.clock()
        try:
            await self.throttle.reserve_sign_up(address, now)
        finally:
            await self.db.commit()
        # Hashed in every case, so the time taken does not tell the cases apart either.
        password_hash = await in_kdf_pool(hash_user_password, password)
        for _ in range(2):  # a second round only after losing a race for the same email
            user = await self.db.scalar(select(User).where(User.email == email))
            if user is None:
                user = User(email=email, password_hash=password_hash, role="driver", verified_at=None)
                self.db.add(user)
                try:
                    await self.db.flush()
                except IntegrityError:
                    await self.db.rollback()
                    continue
            elif user.verified_at is None:
                user.password_hash = password_hash
            else:
                await mail(SignUpMail(to=email, kind="existing"))
                await self.db.commit()
                return
            await mail(SignUpMail(to=email, kind="verify", token=self._verification_token(user, now)))
            await self.db.commit()
            return

    async def verify(self, token: str, password: str, *, address: str | None = None) -> TokenPair:
        """Follow the sign-up link: with the password chosen at sign-up the account is
        verified and signed in. Anything else is InvalidVerification; wrong passwords
        count like failed sign-ins."""
        try:
            claims = decode_token(self.auth, token, expected_type="verify")
            user_id = uuid.UUID(str(claims["sub"]))
            expired = int(claims["exp"]) <= self.clock().timestamp()  # our clock, not only the wall's
        except (TokenError, KeyError, ValueError):
            raise InvalidVerification() from None
        if expired:
            raise InvalidVerification()
        user = await self.db.get(User, user_id)
        if user is None or user.verified_at is not None or not user.active:
            raise InvalidVerification()
        now = self.clock()
        await self._reserve_sign_in(user.email, address, now)
        if not await in_kdf_pool(verify_user_password, user.password_hash, password):
            raise InvalidVerification()
        verified = await claim(
            self.db,
            update(User).where(User.id == user.id, User.verified_at.is_(None)).values(verified_at=now),
        )
        if not verified:
            await self.db.rollback()
            raise InvalidVerification()
        await self.throttle.succeeded_sign_in(user.email, address, now)
        return await self.issue_tokens(user)

    def _verification_token(self, user: User, now: datetime) -> str:
        claims = {
            "sub": str(user.id),
            "iss": self.auth.issuer,
            "aud": self.auth.audience,
            "iat": int(now.timestamp()),
            "exp": int((now + timedelta(seconds=VERIFICATION_TTL_S)).timestamp()),
            "typ": "verify",
        }
        return jwt.encode(claims, self.auth.secret_key, algorithm=JWT_ALGORITHM)

    async def _reserve_sign_in(self, email: str, address: str | None, now: datetime) -> None:
        """Count an attempt before the slow password hash, committed so other processes
        see it at once (see LoginThrottle)."""
        try:
            await self.throttle.reserve_sign_in(email, address, now)
        finally:
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
        await self._reserve_sign_in(user.email, address, now)
        if not await in_kdf_pool(verify_user_password, user.password_hash, current_password):
            raise WrongPassword(field="currentPassword")
        await self.throttle.succeeded_sign_in(user.email, address, now)
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
        """Link ``token`` to the user: a new one is registered, the user's own is returned
        (label updated). Someone else's is IdTokenTaken; one an operator registered (or,
        from before cards had an operator, one nobody owns) is IdTokenOperatorCard: a card
        number is no proof of holding the card, so it is never taken over."""
        if not 1 <= len(token) <= MAX_ID_TOKEN_LENGTH or token != token.strip():
            raise InvalidIdToken(f"token: 1 to {MAX_ID_TOKEN_LENGTH} characters, no surrounding spaces", field="token")
        if type not in ID_TOKEN_TYPES:
            raise InvalidIdToken(f"type: one of {', '.join(sorted(ID_TOKEN_TYPES))}", field="type")
        row = await self.db.scalar(select(IdToken).where(IdToken.token == token))
        if row is None:
            row = IdToken(token=token, type=type, user_id=user_id, label=label)
            self.db.add(row)
            try:
                await self.db.commit()
            except IntegrityError:
                # Registered at the same moment by someone else (a driver or an operator).
                await self.db.rollback()
                raise IdTokenTaken(field="token") from None
            return row
        if row.user_id == user_id:
            if label is not None:
                row.label = label
            await self.db.commit()
            return row
        if row.user_id is None:
            raise IdTokenOperatorCard(field="token")
        raise IdTokenTaken(field="token")

    async def remove_for_user(self, user_id: uuid.UUID, id_token_id: uuid.UUID) -> None:
        """Chargers stop accepting the user's own card (a lost card): it is deleted. A card
        an operator registered and gave the user is only unlinked: the operator's record
        stays. Someone else's is IdTokenNotFound. Past sessions stay the user's."""
        row = await self.db.scalar(select(IdToken).where(IdToken.id == id_token_id, IdToken.user_id == user_id))
        if row is None:
            raise IdTokenNotFound()
        if row.operator_id is not None:
            stmt: Any = update(IdToken).where(IdToken.id == row.id, IdToken.user_id == user_id).values(user_id=None)
        else:
            stmt = delete(IdToken).where(IdToken.id == row.id, IdToken.user_id == user_id)
        if not await claim(self.db, stmt):
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
