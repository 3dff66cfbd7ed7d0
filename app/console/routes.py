"""The console's routes: ``console_router(settings)`` and its static files.

A page module adds its controller to ``CONSOLE_CONTROLLERS``; every controller in it is
behind ``console_gate`` (a signed-in session, the CSRF check on changes), served under
``/console``, out of the OpenAPI schema, with the console's security headers. Put an
operator API guard (``can_operate``, ``can_bill``, ``can_administer``) on a handler that
changes something, as the API's controller does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from litestar import Request, Response, Router
from litestar.datastructures import CacheControlHeader
from litestar.response import Redirect
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler, ExceptionHandlersMap

from app.console.audit import ConsoleAuditMiddleware
from app.console.errors import CsrfFailed, SignInRequired
from app.console.gate import console_gate, session_cookie
from app.console.pages.charger import ChargerPageController
from app.console.pages.chargers import ChargerListController
from app.console.pages.incidents import IncidentPagesController
from app.console.pages.money import MoneyController
from app.console.pages.money_reports import MoneyReportController
from app.console.pages.overview import OverviewController
from app.console.pages.settings import SETTINGS_CONTROLLERS
from app.console.pages.signin import SignInController, sign_in_page
from app.console.pages.uptime import UptimePagesController
from app.console.render import render_public
from app.core.errors import DomainError
from app.core.http import handle_domain_error
from app.core.settings import Settings

STATIC_DIR = Path(__file__).parent / "static"
TEMPLATE_DIR = Path(__file__).parent / "templates"
STATIC_PATH = "/console/static"

# Every signed-in page's controller; a page helper appends one line here.
CONSOLE_CONTROLLERS: list[ControllerRouterHandler] = [
    OverviewController,
    ChargerListController,
    ChargerPageController,
    MoneyController,
    MoneyReportController,
    *SETTINGS_CONTROLLERS,
    IncidentPagesController,
    UptimePagesController,
]


def content_security_policy(settings: Settings) -> str:
    """Scripts, styles and data from this site only; images also from the map's tile server."""
    images = ["'self'", "data:"]
    if settings.console.tile_url:
        parts = urlsplit(settings.console.tile_url)
        # {s}.tile.example.org: Leaflet picks a subdomain per tile.
        images.append(f"{parts.scheme}://{parts.netloc.replace('{s}', '*')}")
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {' '.join(images)}",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "object-src 'none'",
        ]
    )


def _wants_html(request: Request[Any, Any, Any]) -> bool:
    return "text/html" in request.headers.get("accept", "") and not request.headers.get("hx-request")


def _sign_in_required(request: Request[Any, Any, Any], exc: SignInRequired) -> Response[Any]:
    """A page: off to the sign-in form (and back here after it); htmx: a full-page redirect."""
    target = "/console/sign-in"
    if request.method == "GET":
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        target += f"?next={quote(here, safe='')}"
        if request.cookies:
            target += "&notice=expired"
    if request.headers.get("hx-request"):
        response: Response[Any] = Response(b"", status_code=401, headers={"HX-Redirect": target})
    elif _wants_html(request) and request.method == "GET":
        response = Redirect(target, status_code=303)
    elif _wants_html(request):
        # A form sent after the session ended: the sign-in form itself (never a 303, which
        # the audit log would take for a change that worked).
        response = sign_in_page(request, status_code=401, notice="sign_in.expired")
    else:
        # A script or a page's live stream (EventSource reconnecting): the problem only. The
        # dead cookie stays until the next page load, which then says the session ended.
        return handle_domain_error(request, exc)
    response.cookies.append(session_cookie(request, None))
    return response


def _domain_error(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    """A browser's page gets an HTML answer; htmx, scripts and CSRF failures a problem."""
    if isinstance(exc, CsrfFailed) or not _wants_html(request):
        return handle_domain_error(request, exc)
    key = {403: "error.forbidden", 404: "error.not_found"}.get(exc.status)
    return render_public(request, "console/message.html", status_code=exc.status, message_key=key, detail=exc.detail)


CONSOLE_EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    SignInRequired: _sign_in_required,  # type: ignore[dict-item]
    DomainError: _domain_error,  # type: ignore[dict-item]
}


def console_router(settings: Settings) -> Router:
    """Sign-in (open) and every page in ``CONSOLE_CONTROLLERS`` (behind the gate)."""
    csp = content_security_policy(settings)

    async def security_headers(response: Response[Any]) -> Response[Any]:
        response.headers.setdefault("Content-Security-Policy", csp)
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    pages = Router(
        "/", route_handlers=list(CONSOLE_CONTROLLERS), guards=[console_gate], middleware=[ConsoleAuditMiddleware]
    )
    return Router(
        "/",
        route_handlers=[SignInController, pages],
        after_request=security_headers,
        exception_handlers=CONSOLE_EXCEPTION_HANDLERS,
        include_in_schema=False,
    )


def console_static_router() -> Router:
    """The console's script, style sheet and vendored libraries: same origin (CSP 'self')."""
    return create_static_files_router(
        path=STATIC_PATH,
        directories=[STATIC_DIR],
        name="console-static",
        include_in_schema=False,
        cache_control=CacheControlHeader(max_age=3600, public=True),
    )
