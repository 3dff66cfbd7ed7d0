"""Who is calling (a ``Caller``), their tenant and roles, and the guards that check them.

A bearer credential is either a user's access token (a JWT) or a tenant's API key
(``lnk_...``). Guards run before Litestar resolves a handler's dependencies, so the guard
does the resolving and leaves the caller on the request; the ``caller`` and ``tenant_id``
dependencies then read it back, and services take the tenant from there.

The accounts themselves are other areas': the entry point (app/main.py) puts an
``ActiveUserLoader`` on ``app.state.load_active_user`` (drivers area) and an
``ApiKeyLoader`` on ``app.state.load_api_key`` (operators area), so core imports no area.

Roles: ``driver`` (platform-wide), ``platform_admin`` (creates tenants), and inside a
tenant ``admin`` (everything, users and keys), ``operations`` (chargers, commands,
incidents), ``finance`` (payments, refunds, invoices, reports) and ``read_only``.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Guard
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Forbidden, InvalidToken, TokenRevoked, Unauthenticated
from app.core.security import TokenError, decode_token
from app.core.settings import Settings

DRIVER = "driver"
PLATFORM_ADMIN = "platform_admin"
ADMIN = "admin"
OPERATIONS = "operations"
FINANCE = "finance"
READ_ONLY = "read_only"
TENANT_ROLES = frozenset({ADMIN, OPERATIONS, FINANCE, READ_ONLY})
ROLES = TENANT_ROLES | {DRIVER, PLATFORM_ADMIN}

API_KEY_PREFIX = "lnk_"


class Principal(Protocol):
    """What the guards need of a user account (the drivers area's User is one)."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def email(self) -> str: ...

    @property
    def role(self) -> str: ...

    @property
    def operator_id(self) -> uuid.UUID | None: ...

    @property
    def token_version(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling, as guards, services and the audit log see it."""

    kind: Literal["user", "api_key"]
    id: uuid.UUID  # the user's or the key's
    name: str  # the user's e-mail or the key's name
    tenant_id: uuid.UUID | None  # the operator company; None for drivers and platform admins
    roles: frozenset[str]

    def has_any(self, roles: frozenset[str]) -> bool:
        return not self.roles.isdisjoint(roles)

    @classmethod
    def of_user(cls, user: Principal) -> Caller:
        return cls("user", user.id, user.email, user.operator_id, frozenset({user.role}))


# The active account with this id, or None (unknown or deactivated); read in ``db``.
ActiveUserLoader = Callable[[AsyncSession, uuid.UUID], Awaitable[Principal | None]]
# The caller a live (not revoked) API key acts as, or None; read (and its use noted) in ``db``.
ApiKeyLoader = Callable[[AsyncSession, str], Awaitable[Caller | None]]

BEARER_SCHEME = "BearerAuth"
BEARER_SECURITY: list[dict[str, list[str]]] = [{BEARER_SCHEME: []}]
# For ``problems(...)`` in the OpenAPI of guarded handlers.
AUTH_PROBLEMS = (Unauthenticated, InvalidToken, TokenRevoked)
OPERATOR_PROBLEMS = (Unauthenticated, InvalidToken, TokenRevoked, Forbidden)

_CALLER_KEY = "laddnat_caller"
_USER_KEY = "laddnat_user"


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    header = connection.headers.get("authorization")
    if not header:
        raise Unauthenticated("send Authorization: Bearer <access token or API key>")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("the Authorization header must be: Bearer <access token or API key>")
    return token


async def authenticate(connection: ASGIConnection[Any, Any, Any, Any]) -> Caller:
    """The caller the request's bearer credential names; resolved once per request."""
    cached: Caller | None = connection.state.get(_CALLER_KEY)
    if cached is not None:
        return cached
    token = bearer_token(connection)
    if token.startswith(API_KEY_PREFIX):
        caller = await _api_key_caller(connection, token)
    else:
        user = await _token_user(connection, token)
        connection.state[_USER_KEY] = user
        caller = Caller.of_user(user)
    connection.state[_CALLER_KEY] = caller
    return caller


def remember_caller(
    connection: ASGIConnection[Any, Any, Any, Any], caller: Caller, user: Principal | None = None
) -> None:
    """Settle who is calling without a bearer credential (the console's cookie session
    resolves its user itself): the guards and ``caller``/``tenant_id`` then read this."""
    connection.state[_CALLER_KEY] = caller
    if user is not None:
        connection.state[_USER_KEY] = user


def resolved_caller(connection: ASGIConnection[Any, Any, Any, Any]) -> Caller | None:
    """The caller a guard already resolved for this request, or None (the audit log reads it)."""
    caller: Caller | None = connection.state.get(_CALLER_KEY)
    return caller


async def authenticated_user(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """The signed-in user account (403 ``auth.forbidden`` for an API key)."""
    await authenticate(connection)
    user: Principal | None = connection.state.get(_USER_KEY)
    if user is None:
        raise Forbidden("this needs a signed-in user, not an API key")
    return user


async def _token_user(connection: ASGIConnection[Any, Any, Any, Any], token: str) -> Principal:
    settings: Settings = connection.app.state.settings
    try:
        claims = decode_token(settings.auth, token, expected_type="access")
        user_id = uuid.UUID(str(claims["sub"]))
        # Tokens from before token versions existed carry none: version 0, every user's first.
        version = claims.get("ver", 0)
        if type(version) is not int:
            raise ValueError("ver is not an integer")
    except (TokenError, KeyError, ValueError) as exc:
        raise InvalidToken(f"access token: {exc}") from None
    # A short session of its own: guards run before the request's ``db`` exists.
    load_active_user: ActiveUserLoader = connection.app.state.load_active_user
    async with connection.app.state.sessionmaker() as db:
        user = await load_active_user(db, user_id)
    if user is None:
        raise InvalidToken("access token: the user is not active")
    if user.token_version != version:
        # Logged out everywhere or changed password since this token was issued.
        raise TokenRevoked()
    return user


async def _api_key_caller(connection: ASGIConnection[Any, Any, Any, Any], key: str) -> Caller:
    load_api_key: ApiKeyLoader | None = connection.app.state.get("load_api_key")
    if load_api_key is None:
        raise InvalidToken("API keys are not accepted here")
    async with connection.app.state.sessionmaker() as db:
        caller = await load_api_key(db, key)
    if caller is None:
        raise InvalidToken("API key: unknown or revoked")
    return caller


async def requires_user(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: any signed-in, active user (an API key is refused: 403)."""
    await authenticated_user(connection)


def requires_role(*roles: str) -> Guard:
    """Guard: a caller with one of ``roles`` (else 403 ``auth.forbidden``)."""
    wanted = frozenset(roles)

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        caller = await authenticate(connection)
        if not caller.has_any(wanted):
            raise Forbidden(f"this needs the role {' or '.join(sorted(wanted))}")
        if wanted <= TENANT_ROLES and caller.tenant_id is None:
            raise Forbidden("this needs a user or key of an operator company")

    return guard


# The operator API's guards: the router takes ``can_read``; a handler that changes
# something adds the one for its kind of change.
# The role sets are public so pages can show only what the role may do (the console).
OPERATE_ROLES = frozenset({ADMIN, OPERATIONS})  # chargers, locations, commands, incidents, cards
BILL_ROLES = frozenset({ADMIN, FINANCE})  # tariffs, refunds, fleet accounts, invoices
ADMINISTER_ROLES = frozenset({ADMIN})  # staff, API keys, webhooks
can_read = requires_role(*TENANT_ROLES)
can_operate = requires_role(*OPERATE_ROLES)
can_bill = requires_role(*BILL_ROLES)
can_administer = requires_role(*ADMINISTER_ROLES)
requires_platform_admin = requires_role(PLATFORM_ADMIN)


async def provide_caller(request: Request[Any, Any, Any]) -> Caller:
    """Dependency ``caller``: who is calling."""
    return await authenticate(request)


async def provide_tenant_id(request: Request[Any, Any, Any]) -> uuid.UUID:
    """Dependency ``tenant_id``: the caller's operator company; every operator service
    scopes its queries by it."""
    caller = await authenticate(request)
    if caller.tenant_id is None:
        raise Forbidden("this needs a user or key of an operator company")
    return caller.tenant_id
