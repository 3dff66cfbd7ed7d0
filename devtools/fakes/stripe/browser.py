"""The Stripe quirks proxy, plus what a browser needs from it: Stripe.js and CORS.

``/js.stripe.com/v3/`` is localstripe's own fake Stripe.js (fetched from localstripe) with
``payment_element.js`` appended: the Payment Element calls the checkout page makes, done
the way real Stripe.js does them (a PaymentMethod created with the publishable key, the
PaymentIntent confirmed with its client_secret). Served from the proxy, the script's API
base is the proxy, so the confirmation goes through the proxy, which signs and posts the
``payment_intent.amount_capturable_updated`` webhook to the app as Stripe would.

The card's expiry date is read as typed (MM/YY or MM/YYYY, see payment_element.js) and
checked here as Stripe would, so a mistyped date gets a message that names what is wrong
rather than localstripe's "Bad request".
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from devtools.fakes.stripe.params import first, stripe_error
from devtools.fakes.stripe.proxy import PROXY_SECRET_KEY, StripeQuirksProxy

PAYMENT_ELEMENT_JS = Path(__file__).with_name("payment_element.js")
_SECRET = f"Bearer {PROXY_SECRET_KEY}"


class BrowserStripeProxy(StripeQuirksProxy):
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        response = await self._answer(request)
        # Stripe's API answers any origin (the browser calls it from the merchant's page).
        origin = request.headers.get("Origin")
        if origin:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Headers"] = "Content-Type, Authorization"
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        return response

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        if request.method == "OPTIONS":
            return web.Response(status=204)
        if request.method == "GET" and request.path == "/js.stripe.com/v3/":
            assert self._session is not None
            async with self._session.get(f"{self.upstream_url}/js.stripe.com/v3/") as upstream:
                script = await upstream.text()
            script += "\n" + PAYMENT_ELEMENT_JS.read_text()
            return web.Response(text=script, content_type="application/javascript")
        return await super()._handle(request)

    async def _route(self, request: web.Request, path: str, pairs: list[tuple[str, str]]) -> tuple[int, dict[str, Any]]:
        key = first(pairs, "key")
        if key is None or not key.startswith("pk_"):
            return await super()._route(request, path, pairs)
        # Stripe.js: the publishable key in the form, allowed for these two calls only.
        pairs = [(k, v) for k, v in pairs if k != "key"]
        if request.method == "POST" and path == "/v1/payment_methods":
            problem = card_expiry_problem(pairs, datetime.now(UTC))
            if problem is not None:
                return problem
            return await self._upstream("POST", path, pairs, _SECRET)
        match = re.fullmatch(r"/v1/payment_intents/([^/]+)/confirm", path)
        if request.method == "POST" and match is not None:
            intent = await self._get(f"/v1/payment_intents/{match[1]}")
            if first(pairs, "client_secret") != intent.get("client_secret"):
                return stripe_error(400, "invalid_request_error", "The client_secret provided does not match.")
            return await self._confirm_payment_intent(match[1], pairs, _SECRET, [])
        return stripe_error(401, "invalid_request_error", "This call cannot be made with a publishable key.")


def card_expiry_problem(pairs: list[tuple[str, str]], now: datetime) -> tuple[int, dict[str, Any]] | None:
    """Stripe's answer to a card whose ``exp_month`` / ``exp_year`` it would refuse, else None.

    localstripe only asserts on them and answers a bare 400 "Bad request"; Stripe names the
    field (402 ``card_error``, ``invalid_expiry_month`` / ``invalid_expiry_year``). A year is
    two or four digits; a date before this month is refused like Stripe does."""
    month_text = (first(pairs, "card[exp_month]") or "").strip()
    year_text = (first(pairs, "card[exp_year]") or "").strip()
    if not re.fullmatch(r"\d{1,2}", month_text) or not 1 <= int(month_text) <= 12:
        return _expiry_error("month")
    if not re.fullmatch(r"\d{2}|\d{4}", year_text):
        return _expiry_error("year")
    month, year = int(month_text), int(year_text) + (2000 if len(year_text) == 2 else 0)
    if year < now.year:
        return _expiry_error("year")
    if year == now.year and month < now.month:
        return _expiry_error("month")
    return None


def _expiry_error(field: str) -> tuple[int, dict[str, Any]]:
    return stripe_error(
        402,
        "card_error",
        f"Your card's expiration {field} is invalid.",
        code=f"invalid_expiry_{field}",
        param=f"card[exp_{field}]",
    )


@contextmanager
def running_browser_proxy(localstripe_url: str) -> Iterator[BrowserStripeProxy]:
    proxy = BrowserStripeProxy(localstripe_url)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
