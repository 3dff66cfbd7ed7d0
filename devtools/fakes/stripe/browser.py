"""The Stripe quirks proxy, plus what a browser needs from it: Stripe.js and CORS.

``/js.stripe.com/v3/`` is localstripe's own fake Stripe.js (fetched from localstripe) with
``payment_element.js`` appended: the Payment Element calls the checkout page makes, done
the way real Stripe.js does them (a PaymentMethod created with the publishable key, the
PaymentIntent confirmed with its client_secret). Served from the proxy, the script's API
base is the proxy, so the confirmation goes through the proxy, which signs and posts the
``payment_intent.amount_capturable_updated`` webhook to the app as Stripe would.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aiohttp import web

from devtools.fakes.stripe import server as stripe_servers
from devtools.fakes.stripe.server import StripeQuirksProxy

PAYMENT_ELEMENT_JS = Path(__file__).with_name("payment_element.js")
_SECRET = f"Bearer {stripe_servers._PROXY_SECRET_KEY}"


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
        key = stripe_servers._first(pairs, "key")
        if key is None or not key.startswith("pk_"):
            return await super()._route(request, path, pairs)
        # Stripe.js: the publishable key in the form, allowed for these two calls only.
        pairs = [(k, v) for k, v in pairs if k != "key"]
        if request.method == "POST" and path == "/v1/payment_methods":
            return await self._upstream("POST", path, pairs, _SECRET)
        match = re.fullmatch(r"/v1/payment_intents/([^/]+)/confirm", path)
        if request.method == "POST" and match is not None:
            intent = await self._get(f"/v1/payment_intents/{match[1]}")
            if stripe_servers._first(pairs, "client_secret") != intent.get("client_secret"):
                return stripe_servers._error(400, "invalid_request_error", "The client_secret provided does not match.")
            return await self._confirm_payment_intent(match[1], pairs, _SECRET, [])
        return stripe_servers._error(401, "invalid_request_error", "This call cannot be made with a publishable key.")


@contextmanager
def running_browser_proxy(localstripe_url: str) -> Iterator[BrowserStripeProxy]:
    proxy = BrowserStripeProxy(localstripe_url)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
