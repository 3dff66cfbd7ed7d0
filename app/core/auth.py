"""Who is calling: a bearer access token, resolved to an active user, and role guards.

Guards run before Litestar resolves a handler's dependencies, so the guard does the
resolving and leaves the user on the request; ``current_user`` then reads it back.

The accounts themselves are the drivers area's: the entry point (app/main.py) puts an
``ActiveUserLoader`` on ``app.state.load_active_user``, so core imports no domain area.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Guard
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Forbidden, InvalidToken, TokenRevoked, Unauthenticated
from app.core.security import TokenError, decode_token
from app.core.settings import Settings


class Principal(Protocol):
    """What the guards need of an account (the drivers area's User is one)."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def role(self) -> str: ...

    @property
    def token_version(self) -> int: ...


# The active account with this id, or None (unknown or deactivated); read in ``db``.
ActiveUserLoader = Callable[[AsyncSession, uuid.UUID], Awaitable[Principal | None]]

BEARER_SCHEME = "BearerAuth"
BEARER_SECURITY: list[dict[str, list[str]]] = [{BEARER_SCHEME: []}]
# For ``problems(...)`` in the OpenAPI of guarded handlers.
AUTH_PROBLEMS = (Unauthenticated, InvalidToken, TokenRevoked)
OPERATOR_PROBLEMS = (Unauthenticated, InvalidToken, TokenRevoked, Forbidden)

_USER_KEY = "laddnat_user"


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    header = connection.headers.get("authorization")
    if not header:
        raise Unauthenticated("send Authorization: Bearer <access token>")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("the Authorization header must be: Bearer <access token>")
    return token


async def authenticate(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """The active user the request's access token names; once per request."""
    cached: Principal | None = connection.state.get(_USER_KEY)
    if cached is not None:
        return cached
    token = bearer_token(connection)
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
    connection.state[_USER_KEY] = user
    return user


async def requires_user(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: any signed-in, active user."""
    await authenticate(connection)


def requires_role(*roles: str) -> Guard:
    """Guard: a signed-in, active user with one of ``roles`` (else 403 ``auth.forbidden``)."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        user = await authenticate(connection)
        if user.role not in roles:
            raise Forbidden(f"this needs the role {' or '.join(roles)}")

    return guard


requires_operator = requires_role("operator")
