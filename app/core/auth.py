"""Who is calling: a bearer access token, resolved to an active user, and role guards.

Guards run before Litestar resolves a handler's dependencies, so the guard does the
resolving and leaves the user on the request; ``current_user`` then reads it back.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Guard

from app.core.security import TokenError, decode_token
from app.core.settings import Settings
from app.drivers.errors import Forbidden, InvalidToken, TokenRevoked, Unauthenticated
from app.drivers.models import User
from app.drivers.service import UserService

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


async def authenticate(connection: ASGIConnection[Any, Any, Any, Any]) -> User:
    """The active user the request's access token names; once per request."""
    cached: User | None = connection.state.get(_USER_KEY)
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
    async with connection.app.state.sessionmaker() as db:
        user = await UserService(db).get_active(user_id)
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


async def provide_current_user(request: Request[Any, Any, Any]) -> User:
    """Dependency ``current_user``: the caller (resolved by a guard, or here)."""
    return await authenticate(request)
