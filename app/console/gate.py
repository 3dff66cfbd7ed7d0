"""Who may see a console page: the session cookie, the CSRF check, the cookies' flags.

``console_gate`` is the guard of every console page but sign-in. It resolves the session
cookie to the signed-in user, settles the request's ``Caller`` with
``app.core.auth.remember_caller`` (so ``can_operate``, ``can_bill`` ... and the ``caller``
and ``tenant_id`` dependencies work as on the operator API), and for every
POST/PUT/PATCH/DELETE checks the session's CSRF token (form field ``csrf_token`` or header
``X-CSRF-Token``) and that the request comes from this site (Origin, else Referer).
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.handlers.base import BaseRouteHandler

from app.console.errors import CsrfFailed, SignInRequired
from app.console.sessions import ConsoleSessions, SignedIn
from app.core.auth import remember_caller
from app.core.database import utcnow
from app.core.settings import Settings

COOKIE = "laddnat_console"
SECURE_COOKIE = f"__Secure-{COOKIE}"  # not __Host-: that prefix demands Path=/, ours is /console
CSRF_COOKIE = "laddnat_console_csrf"  # the sign-in form's double-submit token (no session yet)
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
COOKIE_PATH = "/console"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_SIGNED_IN_KEY = "laddnat_console_signed_in"


def clock_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Any:
    """``app.state.clock`` (tests move it by hand), else the real one."""
    return connection.app.state.get("clock", utcnow)


def is_secure(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    settings: Settings = connection.app.state.settings
    return (
        settings.console.secure_cookies
        or connection.url.scheme == "https"
        or settings.http.public_base_url.startswith("https://")
    )


def session_cookie_value(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    return connection.cookies.get(SECURE_COOKIE) or connection.cookies.get(COOKIE)


def session_cookie(connection: ASGIConnection[Any, Any, Any, Any], value: str | None) -> Cookie:
    """The session cookie to set (``None``: to clear). No max-age: the server ends sessions."""
    secure = is_secure(connection)
    return Cookie(
        key=SECURE_COOKIE if secure else COOKIE,
        value=value or "",
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=secure,
        max_age=None if value else 0,
    )


def csrf_cookie(connection: ASGIConnection[Any, Any, Any, Any], value: str) -> Cookie:
    return Cookie(
        key=CSRF_COOKIE,
        value=value,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=is_secure(connection),
        max_age=3600,
    )


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def same_origin(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    """The request comes from one of our pages: its Origin (else its Referer) is this site.
    Neither header (not a browser): the token alone decides. ``Origin: null`` is refused."""
    settings: Settings = connection.app.state.settings
    ours = {_origin_of(settings.http.public_base_url), _origin_of(str(connection.base_url))}
    origin = connection.headers.get("origin")
    if origin is not None:
        return origin in ours
    referer = connection.headers.get("referer")
    if referer is not None:
        return _origin_of(referer) in ours
    return True


async def submitted_csrf(request: Request[Any, Any, Any]) -> str | None:
    """The token the request carries: the header (htmx) or the form field."""
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()  # Litestar keeps the body: the handler reads it again
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


async def check_csrf(request: Request[Any, Any, Any], expected: str) -> None:
    given = await submitted_csrf(request)
    if not given or not secrets.compare_digest(given, expected) or not same_origin(request):
        raise CsrfFailed()


async def console_gate(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: a live console session (else SignInRequired, which the console answers with a
    redirect to sign-in), and the CSRF check for a change."""
    raw = session_cookie_value(connection)
    signed_in: SignedIn | None = None
    if raw:
        state = connection.app.state
        async with state.sessionmaker() as db:
            signed_in = await ConsoleSessions(db, state.settings.console, clock=clock_of(connection)).resolve(raw)
    if signed_in is None:
        raise SignInRequired()
    connection.state[_SIGNED_IN_KEY] = signed_in
    remember_caller(connection, signed_in.caller, signed_in.user)
    if isinstance(connection, Request) and connection.method in UNSAFE_METHODS:
        await check_csrf(connection, signed_in.csrf_token)


async def still_signed_in(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    """Whether the request's session is still live (a long stream asks before each update,
    so a signed-out, expired or deactivated user's open page stops getting news)."""
    raw = session_cookie_value(connection)
    if not raw:
        return False
    state = connection.app.state
    async with state.sessionmaker() as db:
        sessions = ConsoleSessions(db, state.settings.console, clock=clock_of(connection))
        return await sessions.resolve(raw, touch=False) is not None


def signed_in_of(connection: ASGIConnection[Any, Any, Any, Any]) -> SignedIn:
    """The session ``console_gate`` resolved for this request."""
    signed_in: SignedIn | None = connection.state.get(_SIGNED_IN_KEY)
    if signed_in is None:
        raise SignInRequired()
    return signed_in
