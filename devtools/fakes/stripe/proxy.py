"""The Stripe quirks proxy: a loopback server in front of localstripe (localstripe.py) that
answers like Stripe where localstripe does not. Real HTTP all the way; the code under test
uses the real Stripe SDK.

What localstripe 1.15 (checked against stripe-python 16) does not do, and this proxy does:

* idempotency: a repeated ``Idempotency-Key`` with the same parameters replays the stored
  answer; with other parameters it is a 400 ``idempotency_error``;
* declines: Stripe's test payment methods ``pm_card_chargeDeclined*`` answer 402 ``card_error``
  with ``decline_code`` and the PaymentIntent (localstripe answers 404 for them);
* parameters it refuses with 400 "Unexpected ...": ``description``,
  ``automatic_payment_methods``, ``statement_descriptor_suffix``, ``return_url``... are kept
  here and echoed back on the PaymentIntent;
* confirming a PaymentIntent with a ``payment_method`` (localstripe: 500 "Not implemented"), and
  confirming with the publishable key + ``client_secret`` the way Stripe.js does;
* attaching the card to the SetupIntent's customer when it succeeds;
* the fields of today's API version: ``amount_capturable``/``amount_received``,
  ``latest_charge`` as an id unless expanded (without the removed ``charges`` list), the
  charge's ``payment_method_details.card`` and ``amount_captured``;
* a partial capture releases the rest: localstripe books a refund for it, Stripe does not,
  so ``/v1/balance_transactions`` (``created`` filter, ``expand=data.source(.payment_intent)``)
  is served from a ledger of the captures and refunds that went through here, with a made-up
  fee of 1.5 % + 25 on captures;
* a refund larger than what is left to refund is a 400 ``amount_too_large``;
* Stripe-shaped signed webhooks for what went through (``payment_intent.amount_capturable_updated``,
  ``.payment_failed``, ``.succeeded``, ``.canceled``, ``refund.created``): localstripe only sends
  ``payment_intent.succeeded``/``payment_failed`` in its 2017 shape, a second late.

``fail_next`` makes the next requests to a path fail with a 500 or a dropped connection, before
or after localstripe did the work, to prove a retry with the same key moves money once.

This module holds the server, idempotency, injected faults, routing and webhook delivery; the
routes that move money are in payment_routes.py, today's response shapes and the ledger of
balance transactions in shapes.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode

import aiohttp
from aiohttp import web

from devtools.fakes.net import free_port
from devtools.fakes.stripe.params import expanded, first, stripe_error, without
from devtools.fakes.stripe.payment_routes import STRIPPED, PaymentRoutes
from devtools.fakes.stripe.shapes import Ledger
from devtools.fakes.stripe.webhooks import sign_webhook, stripe_event

# The secret key the proxy itself uses upstream (lookups, and Stripe.js calls made with a
# publishable key, which localstripe would refuse).
PROXY_SECRET_KEY = "sk_test_laddnat_proxy"
# A failed webhook delivery (no answer, or a 5xx) is tried again after each of these.
DELIVERY_BACKOFF_S = (0.2, 0.5, 1.0, 2.0, 4.0)
DELIVERY_TIMEOUT = aiohttp.ClientTimeout(total=10)


@dataclass
class _Fault:
    path: re.Pattern[str]
    remaining: int
    mode: Literal["500", "drop"]
    after_upstream: bool


@dataclass
class _Stored:
    fingerprint: tuple[Any, ...]
    status: int
    body: dict[str, Any]


@dataclass
class _Webhook:
    url: str
    secret: str
    events: set[str] | None


@dataclass
class Delivery:
    """One webhook the proxy posted: what, where, and the answer's status (None: no answer)."""

    event_type: str
    url: str
    status: int | None


class UpstreamError(Exception):
    """localstripe refused a lookup the proxy needed: answer with its error."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status, body)
        self.status, self.body = status, body


class StripeQuirksProxy(PaymentRoutes):
    """A loopback HTTP server that answers like Stripe where localstripe does not (see the module
    docstring) and forwards everything else to it. Runs its own event loop in a thread, so any
    test or app loop can use it; the control methods are thread-safe."""

    def __init__(self, upstream_url: str) -> None:
        self.upstream_url = upstream_url.rstrip("/")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._guard = threading.Lock()
        self._faults: list[_Fault] = []
        self._webhooks: dict[str, _Webhook] = {}
        self.deliveries: list[Delivery] = []
        # What reached localstripe, as (method, path): lets a test count real captures.
        self.upstream_requests: list[tuple[str, str]] = []
        self._stored: dict[str, _Stored] = {}
        self._overlay: dict[str, dict[str, Any]] = {}  # PaymentIntent -> fields localstripe refused
        self._ledger = Ledger()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._lock: asyncio.Lock | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- control (from any thread) --

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="stripe-quirks-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the Stripe quirks proxy did not start")

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def fail_next(
        self, path: str, times: int = 1, *, mode: Literal["500", "drop"] = "500", after_upstream: bool = False
    ) -> None:
        """Fail the next ``times`` requests whose path matches ``path`` (a regex, full match).

        ``after_upstream=False``: Stripe never saw the request. ``True``: localstripe did the
        work and the answer is stored under the idempotency key, then lost on the way back (the
        case that double-charges a client that retries without the same key)."""
        with self._guard:
            self._faults.append(_Fault(re.compile(path), times, mode, after_upstream))

    def register_webhook(self, url: str, secret: str, events: list[str] | None = None) -> None:
        """POST Stripe-shaped events, signed with ``secret``, to ``url`` for what goes through."""
        with self._guard:
            self._webhooks[url] = _Webhook(url, secret, set(events) if events else None)

    def upstream_count(self, method: str, path: str) -> int:
        with self._guard:
            return sum(1 for m, p in self.upstream_requests if m == method and re.fullmatch(path, p))

    # -- the server --

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._startup())
        self._ready.set()
        self._loop.run_forever()
        self._loop.close()

    async def _startup(self) -> None:
        self._lock = asyncio.Lock()
        self._session = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def _shutdown(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    def _take_fault(self, path: str) -> _Fault | None:
        with self._guard:
            for fault in self._faults:
                if fault.remaining > 0 and fault.path.fullmatch(path):
                    fault.remaining -= 1
                    return fault
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        raw = await request.read()
        pairs = parse_qsl(raw.decode() if request.method == "POST" else request.query_string, keep_blank_values=True)
        fault = self._take_fault(path)
        if fault is not None and not fault.after_upstream:
            return self._fail(request, fault)
        key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
        assert self._lock is not None
        async with self._lock:  # localstripe is one process anyway; keys need no finer lock
            replayed = False
            if key is not None and key in self._stored:
                stored = self._stored[key]
                if stored.fingerprint != (request.method, path, sorted(pairs)):
                    status, body = stripe_error(
                        400,
                        "idempotency_error",
                        "Keys for idempotent requests can only be used with the same parameters they were "
                        f"first used with. Try using a key other than '{key}' if you meant to execute a "
                        "different request.",
                    )
                    return web.json_response(body, status=status)
                status, body, replayed = stored.status, stored.body, True
            else:
                try:
                    status, body = await self._route(request, path, pairs)
                except UpstreamError as e:
                    status, body = e.status, e.body
                if key is not None and status < 500:
                    self._stored[key] = _Stored((request.method, path, sorted(pairs)), status, body)
        if fault is not None:
            return self._fail(request, fault)
        headers = {"Idempotent-Replayed": "true"} if replayed else {}
        return web.json_response(body, status=status, headers=headers)

    def _fail(self, request: web.Request, fault: _Fault) -> web.StreamResponse:
        if fault.mode == "drop":
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError  # aiohttp ends the handler quietly; the client sees EOF
        _, body = stripe_error(500, "api_error", "An unknown error occurred (injected by the test).")
        return web.json_response(body, status=500)

    # -- upstream --

    async def _upstream(
        self, method: str, path: str, pairs: list[tuple[str, str]], auth: str
    ) -> tuple[int, dict[str, Any]]:
        assert self._session is not None
        with self._guard:
            self.upstream_requests.append((method, path))
        url = self.upstream_url + path
        headers = {"Authorization": auth}
        if method == "GET":
            ctx = self._session.get(url, params=pairs, headers=headers)
        else:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            ctx = self._session.request(method, url, data=urlencode(pairs), headers=headers)
        async with ctx as response:
            try:
                body = await response.json(content_type=None)
            except ValueError:
                body = {"error": {"type": "api_error", "message": (await response.text())[:200]}}
            if response.status == 404 and isinstance(body.get("error"), dict):
                body["error"].setdefault("code", "resource_missing")
            return response.status, body

    async def _get(self, path: str) -> dict[str, Any]:
        status, body = await self._upstream("GET", path, [], f"Bearer {PROXY_SECRET_KEY}")
        if status != 200:
            raise UpstreamError(status, body)
        return body

    # -- routes --

    async def _route(self, request: web.Request, path: str, pairs: list[tuple[str, str]]) -> tuple[int, dict[str, Any]]:
        auth = request.headers.get("Authorization", "")
        method = request.method
        expand = expanded(pairs)
        client_side = auth.startswith("Bearer pk_")
        if client_side:
            # Stripe.js: publishable key + the intent's client_secret, on confirm only.
            match = re.fullmatch(r"/v1/(payment_intents|setup_intents)/([^/]+)/confirm", path)
            if method != "POST" or match is None:
                return stripe_error(
                    401, "invalid_request_error", "This API call cannot be made with a publishable API key."
                )
            intent = await self._get(f"/v1/{match[1]}/{match[2]}")
            if first(pairs, "client_secret") != intent.get("client_secret"):
                return stripe_error(400, "invalid_request_error", "The client_secret provided does not match.")
            auth = f"Bearer {PROXY_SECRET_KEY}"

        if method == "GET" and path == "/v1/balance_transactions":
            return 200, await self._balance_transactions(pairs)
        if method == "POST" and path == "/v1/payment_intents":
            return await self._create_payment_intent(pairs, auth, expand)
        if method == "POST" and (m := re.fullmatch(r"/v1/payment_intents/([^/]+)/confirm", path)):
            return await self._confirm_payment_intent(m[1], pairs, auth, expand)
        if method == "POST" and (m := re.fullmatch(r"/v1/payment_intents/([^/]+)/(capture|cancel)", path)):
            return await self._finish_payment_intent(m[1], m[2], pairs, auth, expand)
        if method == "POST" and path == "/v1/refunds":
            return await self._create_refund(pairs, auth)
        if method == "POST" and path == "/v1/setup_intents":
            return await self._upstream(method, path, without(pairs, STRIPPED["/v1/setup_intents"]), auth)
        if method == "POST" and (m := re.fullmatch(r"/v1/setup_intents/([^/]+)/confirm", path)):
            return await self._confirm_setup_intent(m[1], pairs, auth)
        status, body = await self._upstream(method, path, without(pairs, ("expand",)), auth)
        return status, await self._shape(body, expand) if status < 400 else body

    # -- webhooks --

    def _emit(self, type_: str, obj: dict[str, Any]) -> None:
        with self._guard:
            hooks = [h for h in self._webhooks.values() if h.events is None or type_ in h.events]
        if not hooks:
            return
        payload = stripe_event(type_, obj)
        for hook in hooks:
            task = asyncio.get_running_loop().create_task(self._deliver(hook, type_, payload))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(self, hook: _Webhook, type_: str, payload: bytes) -> None:
        assert self._session is not None
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": sign_webhook(payload, hook.secret),
        }
        # Stripe retries a delivery that failed; so does this fake, sooner. One attempt lost
        # a webhook now and then under load (a pooled keep-alive connection the server was
        # closing as the POST went out), and the payment then waited for it for ever.
        status: int | None = None
        for backoff_s in (*DELIVERY_BACKOFF_S, None):
            try:
                async with self._session.post(
                    hook.url, data=payload, headers=headers, timeout=DELIVERY_TIMEOUT
                ) as response:
                    status = response.status
            except (aiohttp.ClientError, TimeoutError):
                status = None
            if (status is not None and status < 500) or backoff_s is None:
                break
            await asyncio.sleep(backoff_s)
        with self._guard:
            self.deliveries.append(Delivery(type_, hook.url, status))


@contextlib.contextmanager
def running_proxy(upstream_url: str) -> Iterator[StripeQuirksProxy]:
    proxy = StripeQuirksProxy(upstream_url)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
