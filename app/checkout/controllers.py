"""The web checkout's pages: HTML for people, one JSON route for the page's own script.

Not part of the JSON API (``include_in_schema=False``). Every answer carries a CSP that
allows only this site and the PSP's script, frame and API origins; forms are protected by
a SameSite=Strict double-submit cookie (pay) or a token bound to the secret link (stop),
plus an Origin check.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from litestar import Controller, Request, Response, Router, get, post
from litestar.datastructures import CacheControlHeader, Cookie, State
from litestar.di import Provide
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router
from sqlalchemy.ext.asyncio import AsyncSession

from app.billing.errors import NoTariff, ReceiptNotFound, StartFailed
from app.billing.receipts.render import render_receipt_html
from app.billing.receipts.service import ReceiptService
from app.checkout.errors import CheckoutNotFound
from app.checkout.i18n import Translator, negotiate
from app.checkout.service import ChargerView, CheckoutLink, CheckoutService, Progress
from app.core.settings import Settings
from payments.errors import PaymentDeclined, PaymentsNotConfigured, ProviderUnavailable
from payments.models import Payment

STATIC_DIR = Path(__file__).parent / "static"
TEMPLATE_DIR = Path(__file__).parent / "templates"
STATIC_PATH = "/static/checkout"
CSRF_COOKIE = "laddnat_checkout"
# Adyen Web (Drop-in) 5.x: the sessions flow with AdyenCheckout({session}) + create("dropin").
ADYEN_WEB_VERSION = "5.68.0"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_FINAL_STATES = frozenset({"finished", "released", "failed"})


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def adyen_cdn(settings: Settings) -> str:
    adyen = settings.payments.adyen
    environment = adyen.environment if adyen is not None else "test"
    return f"https://checkoutshopper-{environment}.adyen.com/checkoutshopper/sdk/{ADYEN_WEB_VERSION}"


def content_security_policy(settings: Settings) -> str:
    """Only this site, plus the PSPs' own origins for their script, frames and API calls."""
    scripts, frames, connects, styles = ["'self'"], ["'self'"], ["'self'"], ["'self'"]
    stripe = settings.payments.stripe
    if stripe is not None:
        js = _origin(stripe.js_url)
        scripts.append(js)
        frames += [js, "https://*.js.stripe.com", "https://hooks.stripe.com"]
        connects += [js, "https://api.stripe.com"]
    if settings.payments.adyen is not None:
        cdn = _origin(adyen_cdn(settings))
        scripts.append(cdn)
        styles.append(cdn)
        frames.append("https://*.adyen.com")
        connects.append("https://*.adyen.com")
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src {' '.join(dict.fromkeys(scripts))}",
            f"style-src {' '.join(dict.fromkeys(styles))}",
            f"frame-src {' '.join(dict.fromkeys(frames))}",
            f"connect-src {' '.join(dict.fromkeys(connects))}",
            "img-src 'self' data: https:",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "object-src 'none'",
        ]
    )


async def provide_checkout(db: AsyncSession, state: State) -> CheckoutService:
    return CheckoutService(db, state.bus, state.providers, state.settings)


def _translator(request: Request[Any, Any, Any], stored: str | None = None) -> Translator:
    override = request.query_params.get("lang") or stored
    return Translator(negotiate(request.headers.get("accept-language"), override))


def _same_origin(request: Request[Any, Any, Any], settings: Settings) -> bool:
    """A form post from this site: its Origin (when the browser sends one) is ours."""
    origin = request.headers.get("origin")
    if origin is None:
        return True  # old browsers: the CSRF token alone decides
    allowed = {_origin(settings.http.public_base_url), _origin(str(request.base_url))}
    return origin in allowed


def _page(name: str, t: Translator, status_code: int = 200, **context: Any) -> Template:
    return Template(template_name=f"checkout/{name}", context={"t": t, **context}, status_code=status_code)


def _not_found(t: Translator) -> Template:
    return _page("message.html", t, 404, heading=t("not_found.title"), text=t("not_found.text"))


def _forbidden(t: Translator) -> Template:
    return _page("message.html", t, 403, heading=t("forbidden.title"), text=t("forbidden.text"))


class CheckoutController(Controller):
    """``/c/{evse_id}`` (and ``/C/...``, the QR code's upper-case URL) and ``/c/s/{token}``."""

    include_in_schema = False
    dependencies = {"checkout": Provide(provide_checkout)}  # noqa: RUF012 (Litestar reads it per class)

    # -- the charger page ------------------------------------------------------------------

    @get(["/c/{evse_id:str}", "/C/{evse_id:str}"], name="checkout:charger")
    async def charger_page(self, request: Request[Any, Any, Any], evse_id: str, checkout: CheckoutService) -> Template:
        t = _translator(request)
        try:
            view = await checkout.charger(evse_id)
        except CheckoutNotFound:
            return _not_found(t)
        csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
        page = self._charger(t, view, csrf, checkout.settings)
        page.cookies.append(self._csrf_cookie(csrf, checkout.settings))
        return page

    @post(["/c/{evse_id:str}/pay", "/C/{evse_id:str}/pay"], name="checkout:pay", status_code=303)
    async def pay(
        self,
        request: Request[Any, Any, Any],
        evse_id: str,
        checkout: CheckoutService,
        data: dict[str, str] = Body(media_type=RequestEncodingType.URL_ENCODED),
    ) -> Template | Redirect:
        t = _translator(request, data.get("lang"))
        cookie = request.cookies.get(CSRF_COOKIE)
        given = data.get("csrf")
        if not cookie or not given or not secrets.compare_digest(cookie, given):
            return _forbidden(t)
        if not _same_origin(request, checkout.settings):
            return _forbidden(t)
        try:
            view = await checkout.charger(evse_id)
        except CheckoutNotFound:
            return _not_found(t)
        email = (data.get("email") or "").strip() or None
        error: str | None = None
        if view.availability != "ok":
            return self._charger(t, view, cookie, checkout.settings, status_code=409)
        if data.get("consent") not in {"on", "yes", "1", "true"}:
            error = t("error.consent")
        elif email is not None and (len(email) > 254 or not _EMAIL.match(email)):
            error = t("error.email")
        if error is not None:
            return self._charger(t, view, cookie, checkout.settings, error=error, email=email, status_code=422)
        try:
            token, _ = await checkout.start(view, payer_email=email, lang=t.lang)
        except PaymentDeclined as err:
            error = t("error.declined", detail=err.detail or err.title)
        except (ProviderUnavailable, PaymentsNotConfigured):
            error = t("error.provider")
        except NoTariff:
            error = t("unavailable.no_tariff")
        except StartFailed:
            error = t("error.start_failed")
        if error is not None:
            return self._charger(t, view, cookie, checkout.settings, error=error, email=email, status_code=409)
        return Redirect(f"/c/s/{token}", status_code=303)

    def _charger(
        self,
        t: Translator,
        view: ChargerView,
        csrf: str,
        settings: Settings,
        *,
        error: str | None = None,
        email: str | None = None,
        status_code: int = 200,
    ) -> Template:
        terms = view.terms
        return _page(
            "charger.html",
            t,
            status_code,
            view=view,
            csrf=csrf,
            error=error,
            email=email or "",
            price_lines=t.price_lines(terms) if terms is not None else [],
            vat=t("price.vat", rate=t.percent(terms.vat_rate_bp)) if terms is not None else "",
            hold=t.money(terms.hold_amount_minor, terms.currency) if terms is not None else "",
            canonical=f"/c/{view.evse.evse_id}",
        )

    def _csrf_cookie(self, value: str, settings: Settings) -> Cookie:
        return Cookie(
            key=CSRF_COOKIE,
            value=value,
            path="/",
            httponly=True,
            samesite="strict",
            secure=settings.http.public_base_url.startswith("https://"),
            max_age=3600,
        )

    # -- behind the secret link ------------------------------------------------------------

    @get("/c/s/{token:str}", name="checkout:status")
    async def status_page(self, request: Request[Any, Any, Any], token: str, checkout: CheckoutService) -> Template:
        try:
            link, payment = await checkout.link(token)
        except CheckoutNotFound:
            return _not_found(_translator(request))
        t = _translator(request, link.lang)
        q = request.query_params
        returned = q.get("redirect_status") in {"succeeded", "processing", "requires_capture"} or q.get(
            "resultCode"
        ) in {"Authorised", "Pending", "Received"}
        progress = await checkout.progress(payment, t, confirming=returned)
        pay_error = None
        if q.get("redirect_status") == "failed" or q.get("resultCode") in {"Refused", "Error", "Cancelled"}:
            pay_error = t("error.declined", detail=q.get("resultCode") or q.get("redirect_status"))
        context = await self._status_context(request, checkout, t, token, link, payment, progress)
        return _page("status.html", t, pay_error=pay_error, **context)

    async def _status_context(
        self,
        request: Request[Any, Any, Any],
        checkout: CheckoutService,
        t: Translator,
        token: str,
        link: CheckoutLink,
        payment: Payment,
        progress: Progress,
    ) -> dict[str, Any]:
        settings = checkout.settings
        view = await checkout.charger_of(payment)
        pay: dict[str, str] | None = None
        if progress.state == "pay":
            if payment.provider == "stripe" and settings.payments.stripe is not None and payment.client_secret:
                pay = {
                    "provider": "stripe",
                    "script": settings.payments.stripe.js_url,
                    "key": settings.payments.stripe.publishable_key,
                    "client-secret": payment.client_secret,
                }
            elif payment.provider == "adyen" and settings.payments.adyen is not None and payment.session_ref:
                adyen = settings.payments.adyen
                pay = {
                    "provider": "adyen",
                    "script": f"{adyen_cdn(settings)}/adyen.js",
                    "stylesheet": f"{adyen_cdn(settings)}/adyen.css",
                    "client-key": adyen.client_key,
                    "environment": adyen.environment,
                    "session-id": payment.session_ref,
                    "session-data": payment.session_data or "",
                }
            if pay is not None:
                pay["return-url"] = f"{settings.http.public_base_url}/c/s/{token}"
                pay["lang"] = t.lang
                pay["load-error"] = t("pay.failed_to_load")
        confirming = "&confirming=1" if progress.state == "confirming" else ""
        return {
            "token": token,
            "payment": payment,
            "progress": progress,
            "view": view,
            "pay": pay,
            "stop_token": checkout.stop_token(link),
            "status_url": f"/c/s/{token}/status.json?lang={t.lang}{confirming}",
            "receipt_url": f"/c/s/{token}/receipt",
            "poll": progress.state not in _FINAL_STATES and progress.state != "pay",
            "stop_result": request.query_params.get("stop"),
            "hold": t.money(payment.hold_minor, payment.currency),
        }

    @get("/c/s/{token:str}/status.json", name="checkout:status-json")
    async def status_json(
        self, request: Request[Any, Any, Any], token: str, checkout: CheckoutService
    ) -> Response[Any]:
        link, payment = await checkout.link(token)  # unknown: a 404 problem, like the API's
        t = _translator(request, link.lang)
        progress = await checkout.progress(payment, t, confirming=request.query_params.get("confirming") == "1")
        return Response(progress, headers={"Cache-Control": "no-store"})

    @post("/c/s/{token:str}/stop", name="checkout:stop", status_code=303)
    async def stop(
        self,
        request: Request[Any, Any, Any],
        token: str,
        checkout: CheckoutService,
        data: dict[str, str] = Body(media_type=RequestEncodingType.URL_ENCODED),
    ) -> Template | Redirect:
        try:
            link, payment = await checkout.link(token)
        except CheckoutNotFound:
            return _not_found(_translator(request))
        t = _translator(request, link.lang)
        if not checkout.check_stop_token(link, data.get("csrf")) or not _same_origin(request, checkout.settings):
            return _forbidden(t)
        failed = await checkout.stop(payment)
        outcome = "sent" if failed is None else f"failed:{failed}"
        return Redirect(f"/c/s/{token}?stop={outcome}", status_code=303)

    @get("/c/s/{token:str}/receipt", name="checkout:receipt")
    async def receipt(self, request: Request[Any, Any, Any], token: str, checkout: CheckoutService) -> Response[Any]:
        try:
            _, payment = await checkout.link(token)
            receipt = await ReceiptService(checkout.db, checkout.providers).for_payment(payment.id)
        except (CheckoutNotFound, ReceiptNotFound):
            return _not_found(_translator(request))
        return Response(render_receipt_html(receipt), media_type="text/html; charset=utf-8")


def checkout_router(settings: Settings) -> Router:
    """The checkout's pages and static files, every answer with the security headers."""
    csp = content_security_policy(settings)

    async def security_headers(response: Response[Any]) -> Response[Any]:
        response.headers.setdefault("Content-Security-Policy", csp)
        # The secret link must never leave in a Referer; same-origin (not no-referrer), because
        # with no-referrer browsers send "Origin: null" on our own form posts.
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    return Router("/", route_handlers=[CheckoutController], after_request=security_headers)


def checkout_static_router() -> Router:
    """The page script and style sheet: small, cached for an hour, same origin (CSP 'self')."""
    return create_static_files_router(
        path=STATIC_PATH,
        directories=[STATIC_DIR],
        name="checkout-static",
        include_in_schema=False,
        cache_control=CacheControlHeader(max_age=3600, public=True),
    )
