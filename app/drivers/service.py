"""Accounts: created by staff or signed up and verified by drivers, sign-in (throttled),
password changes. The tokens a sign-in gets are app.drivers.tokens'; the id tokens chargers
authorise are app.drivers.id_tokens'; saved cards are app.drivers.payment_methods'.

Each public method owns its database transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Literal

import jwt
import msgspec
from sqlalchemy import select, update
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
    verify_user_password,
)
from app.core.settings import AuthSettings
from app.drivers.credentials import normalize_email, validate_password
from app.drivers.errors import (
    InvalidCredentials,
    InvalidRole,
    InvalidVerification,
    UserAlreadyExists,
    UserNotFound,
    WrongPassword,
)
from app.drivers.models import User
from app.drivers.payment_methods import PaymentMethodService
from app.drivers.throttle import DEFAULT_LOGIN_LIMITS, LoginLimits, LoginThrottle
from app.drivers.tokens import SignInTokens, TokenPair
from payments.registry import Providers
from payments.service import SavedCard

# How long a sign-up link is good for.
VERIFICATION_TTL_S = 24 * 3600


class SignUpMail(msgspec.Struct, frozen=True, kw_only=True):
    """A mail a sign-up sends: the verification link of a new (or still unverified) account,
    or to the owner of a verified one, that someone tried to sign up with their address."""

    to: str
    kind: Literal["verify", "existing"]
    token: str | None = None  # "verify": what the link carries


SignUpMailer = Callable[[SignUpMail], Awaitable[None]]


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
        self.tokens = SignInTokens(db, auth, clock=clock)

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
        return await self.tokens.issue(user)

    async def refresh(self, refresh_token: str) -> TokenPair:
        """Spend a refresh token for a new pair in the same family (see SignInTokens.refresh)."""
        return await self.tokens.refresh(refresh_token)

    async def log_out(self, refresh_token: str) -> None:
        """Revoke the family of ``refresh_token`` (spent or not): that sign-in ends."""
        await self.tokens.log_out(refresh_token)

    async def log_out_everywhere(self, user_id: uuid.UUID) -> None:
        """Revoke every refresh token of the user and every access token issued so far."""
        await self.tokens.revoke_all(user_id, self.clock())
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
        version = await self.tokens.revoke_all(user_id, now)
        pair = self.tokens.new_pair(user, uuid.uuid4(), now, version=version)
        await self.db.commit()
        return pair

    async def saved_card(self, user_id: uuid.UUID, method_ref: str, *, provider: str | None = None) -> SavedCard | None:
        """The user's saved card ``method_ref`` at ``provider`` (default: the drivers' PSP,
        see PaymentMethodService.provider_name) for an off-session hold; None unless the
        PSP lists it for this user's customer and the user has not removed it."""
        return await PaymentMethodService(self.db, self.providers).saved_card(user_id, method_ref, provider=provider)
