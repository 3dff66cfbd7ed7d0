"""Sign-in, sign-out and the language switch.

Sign-in reuses the API's password check with its back-off per account and address
(``UserService.check_sign_in``); only an operator company's staff may sign in, and a
driver gets the same answer as a wrong password. The form carries a double-submit token
(a cookie set with the form) because there is no session yet.
"""

from __future__ import annotations

import secrets
from typing import Any

from litestar import Controller, Request, get, post
from litestar.datastructures import Cookie, State
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template

from app.console.errors import CsrfFailed
from app.console.gate import (
    CSRF_COOKIE,
    CSRF_FIELD,
    clock_of,
    console_gate,
    csrf_cookie,
    same_origin,
    session_cookie,
    session_cookie_value,
    signed_in_of,
)
from app.console.i18n import LANG_COOKIE, LANGUAGES
from app.console.render import render_public, translator
from app.console.sessions import ConsoleSessions, may_use_console
from app.drivers.controllers import client_address
from app.drivers.errors import InvalidCredentials, LoginRateLimited
from app.drivers.service import UserService

HOME = "/console"


def safe_next(target: str | None) -> str:
    """Where to go after sign-in or a language switch: a console path of ours, never
    another site (``//evil.example`` and ``/console.evil`` are refused)."""
    if target and (target == HOME or target.startswith((f"{HOME}/", f"{HOME}?"))) and "\\" not in target:
        return target
    return HOME


def sign_in_page(
    request: Request[Any, Any, Any],
    *,
    error: str | None = None,
    status_code: int = 200,
    email: str = "",
    notice: str | None = None,
) -> Template:
    """The sign-in form (with its double-submit token cookie); ``notice``: a text key."""
    token = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
    if notice is None:
        notice = {"expired": "sign_in.expired", "signed_out": "sign_in.signed_out"}.get(
            request.query_params.get("notice", "")
        )
    page = render_public(
        request,
        "console/sign_in.html",
        status_code=status_code,
        csrf_token=token,
        csrf_field_name=CSRF_FIELD,
        next=safe_next(request.query_params.get("next")),
        error=error,
        notice=notice,
        email=email,
    )
    page.cookies.append(csrf_cookie(request, token))
    return page


class SignInController(Controller):
    path = "/console"
    include_in_schema = False

    @get("/sign-in", name="console:sign-in")
    async def sign_in_form(self, request: Request[Any, Any, Any]) -> Template:
        return sign_in_page(request)

    @post("/sign-in", name="console:sign-in-submit", status_code=303)
    async def sign_in(
        self,
        request: Request[Any, Any, Any],
        state: State,
        data: dict[str, str] = Body(media_type=RequestEncodingType.URL_ENCODED),
    ) -> Template | Redirect:
        cookie = request.cookies.get(CSRF_COOKIE)
        given = data.get(CSRF_FIELD)
        if not cookie or not given or not secrets.compare_digest(cookie, given) or not same_origin(request):
            raise CsrfFailed()
        email = (data.get("email") or "").strip()
        clock = clock_of(request)
        async with state.sessionmaker() as db:
            users = UserService(db, clock=clock)
            try:
                user = await users.check_sign_in(email, data.get("password") or "", address=client_address(request))
            except InvalidCredentials:
                user = None
            except LoginRateLimited as limited:
                seconds = limited.extra.get("retry_after_s", 1)
                message = translator(request)("sign_in.rate_limited", seconds=seconds)
                return sign_in_page(request, error=message, status_code=429, email=email)
            if user is None or not may_use_console(user):
                return sign_in_page(request, error=translator(request)("sign_in.failed"), status_code=401, email=email)
            raw = await ConsoleSessions(db, state.settings.console, clock=clock).open(
                user, replacing=session_cookie_value(request)
            )
        response = Redirect(safe_next(data.get("next")), status_code=303)
        response.cookies.append(session_cookie(request, raw))
        # The pre-session token has done its job; a new one comes with the next form.
        response.cookies.append(Cookie(key=CSRF_COOKIE, value="", path="/console", max_age=0))
        return response

    @post("/sign-out", name="console:sign-out", status_code=303, guards=[console_gate])
    async def sign_out(self, request: Request[Any, Any, Any], state: State) -> Redirect:
        signed_in_of(request)  # the gate checked the session and the CSRF token
        raw = session_cookie_value(request)
        if raw:
            async with state.sessionmaker() as db:
                await ConsoleSessions(db, state.settings.console).end(raw)
        response = Redirect(f"{HOME}/sign-in?notice=signed_out", status_code=303)
        response.cookies.append(session_cookie(request, None))
        return response

    @get("/lang/{lang:str}", name="console:lang", status_code=303)
    async def switch_language(self, request: Request[Any, Any, Any], lang: str) -> Redirect:
        """The header's language links: remember the choice for a year (not a secret)."""
        response = Redirect(safe_next(request.query_params.get("next")), status_code=303)
        if lang in LANGUAGES:
            response.cookies.append(
                Cookie(key=LANG_COOKIE, value=lang, path="/console", max_age=365 * 24 * 3600, samesite="lax")
            )
        return response
