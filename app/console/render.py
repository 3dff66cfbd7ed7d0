"""``render(request, "console/<area>/<page>.html", nav="<area>", **context)``: a page with
the context every console template has.

The common context: ``t`` (the translator), ``lang``, ``me`` (the signed-in session:
``me.user.email``, ``me.user.role``, ``me.tenant_name``), ``caller``, ``allowed``
(``allowed.operate``, ``allowed.bill``, ``allowed.administer``: render an action only when
its guard would let it through), ``csrf_token`` (for forms: ``{{ csrf_field() }}``),
``nav`` (the main menu, ``nav_current`` marked), ``path`` and ``tile_url``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.response import Template
from markupsafe import Markup, escape

from app.console.gate import CSRF_FIELD, signed_in_of
from app.console.i18n import LANG_COOKIE, Translator, negotiate
from app.core.auth import ADMINISTER_ROLES, BILL_ROLES, OPERATE_ROLES, TENANT_ROLES, Caller

# The main menu: (area, path). A page helper's area fills one entry.
NAV: tuple[tuple[str, str], ...] = (
    ("overview", "/console"),
    ("chargers", "/console/chargers"),
    ("incidents", "/console/incidents"),
    ("money", "/console/money"),
    ("uptime", "/console/uptime"),
    ("settings", "/console/settings"),
)


@dataclass(frozen=True, slots=True)
class Allowed:
    """What the caller's role may do: the same role sets as the operator API's guards."""

    read: bool
    operate: bool
    bill: bool
    administer: bool

    @classmethod
    def of(cls, caller: Caller) -> Allowed:
        return cls(
            read=caller.has_any(TENANT_ROLES),
            operate=caller.has_any(OPERATE_ROLES),
            bill=caller.has_any(BILL_ROLES),
            administer=caller.has_any(ADMINISTER_ROLES),
        )


def translator(connection: ASGIConnection[Any, Any, Any, Any]) -> Translator:
    """The request's language: the ``lang`` cookie, else Accept-Language."""
    return Translator(negotiate(connection.cookies.get(LANG_COOKIE), connection.headers.get("accept-language")))


def _common(request: Request[Any, Any, Any], t: Translator) -> dict[str, Any]:
    settings = request.app.state.settings
    path = request.url.path
    query = request.url.query
    here = f"{path}?{query}" if query else path
    return {
        "t": t,
        "lang": t.lang,
        "path": path,
        "here": quote(here, safe="/?=&"),
        "tile_url": settings.console.tile_url,
        "tile_attribution": settings.console.tile_attribution,
    }


def render(
    request: Request[Any, Any, Any], template: str, *, nav: str | None = None, status_code: int = 200, **context: Any
) -> Template:
    """A signed-in page (the request passed ``console_gate``)."""
    me = signed_in_of(request)
    caller = me.caller
    csrf = me.csrf_token

    def csrf_field() -> Markup:
        return Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, escape(csrf))

    return Template(
        template_name=template,
        status_code=status_code,
        context={
            **_common(request, translator(request)),
            "me": me,
            "caller": caller,
            "allowed": Allowed.of(caller),
            "csrf_token": csrf,
            "csrf_field": csrf_field,
            "nav": NAV,
            "nav_current": nav,
            **context,
        },
    )


def render_fragment(request: Request[Any, Any, Any], template: str, **context: Any) -> str:
    """A piece of a page as text (a server-sent event's data, an htmx answer), with ``t``."""
    engine = request.app.template_engine
    assert engine is not None
    return str(engine.get_template(template).render(**_common(request, translator(request)), **context))


def render_public(
    request: Request[Any, Any, Any], template: str, *, status_code: int = 200, **context: Any
) -> Template:
    """A page for someone not signed in (sign-in, errors before sign-in)."""
    return Template(
        template_name=template,
        status_code=status_code,
        context={**_common(request, translator(request)), "me": None, "nav": (), "nav_current": None, **context},
    )
