"""Stripe on loopback for tests: localstripe, a proxy in front of it for what it lacks, and
webhook signing. Real HTTP all the way; the code under test uses the real Stripe SDK.

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
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode

import aiohttp
from aiohttp import web

# The localstripe command installed beside this interpreter (the project's .venv), else on PATH.
LOCALSTRIPE = Path(sys.executable).with_name("localstripe")

# Stripe's documented test payment methods that decline (https://docs.stripe.com/testing#declined-payments).
DECLINING_METHODS: dict[str, tuple[str, str | None, str]] = {
    "pm_card_chargeDeclined": ("card_declined", "generic_decline", "Your card was declined."),
    "pm_card_chargeDeclinedInsufficientFunds": (
        "card_declined",
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
    "pm_card_chargeDeclinedLostCard": ("card_declined", "lost_card", "Your card was declined."),
    "pm_card_chargeDeclinedStolenCard": ("card_declined", "stolen_card", "Your card was declined."),
    "pm_card_chargeDeclinedExpiredCard": ("expired_card", "expired_card", "Your card has expired."),
    "pm_card_chargeDeclinedIncorrectCvc": ("incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect."),
}

# Parameters localstripe refuses on these endpoints; kept by the proxy and echoed back.
_STRIPPED = {
    "/v1/payment_intents": (
        "description",
        "statement_descriptor",
        "statement_descriptor_suffix",
        "automatic_payment_methods",
        "return_url",
        "receipt_email",
        "setup_future_usage",
    ),
    "/v1/setup_intents": ("automatic_payment_methods", "description", "return_url"),
    "confirm": ("return_url", "client_secret", "off_session", "use_stripe_sdk", "mandate_data"),
}
_PROXY_SECRET_KEY = "sk_test_laddnat_proxy"
_FEE_PERMILLE, _FEE_FIXED = 15, 25


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- webhooks ------------------------------------------------------------------------------------


def sign_webhook(payload: bytes | str, secret: str, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header value, computed the way Stripe does:
    ``t=<ts>,v1=<hex hmac-sha256(secret, "<ts>.<payload>")>``."""
    ts = int(time.time()) if timestamp is None else timestamp
    body = payload.decode() if isinstance(payload, bytes) else payload
    digest = hmac.new(secret.encode(), f"{ts}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={ts},v1={digest}"


def stripe_event(
    type_: str,
    obj: dict[str, Any],
    *,
    event_id: str | None = None,
    created: int | None = None,
    previous_attributes: dict[str, Any] | None = None,
) -> bytes:
    """A Stripe event body (``object: "event"``) around ``obj``."""
    data: dict[str, Any] = {"object": obj}
    if previous_attributes is not None:
        data["previous_attributes"] = previous_attributes
    event = {
        "id": event_id or f"evt_{secrets.token_hex(12)}",
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": int(time.time()) if created is None else created,
        "livemode": False,
        "pending_webhooks": 1,
        "type": type_,
        "data": data,
    }
    return json.dumps(event, indent=2).encode()


def register_localstripe_webhook(
    localstripe_url: str, url: str, secret: str, *, events: list[str] | None = None, hook_id: str = "laddnat"
) -> None:
    """Have localstripe itself POST signed events to ``url`` (its ``/_config/webhooks/{id}``).

    It signs correctly (``t=created``) but sends only a few types, in its 2017 shape, a second
    after the fact; ``StripeQuirksProxy.register_webhook`` is the Stripe-shaped alternative."""
    form: list[tuple[str, str]] = [("url", url), ("secret", secret)]
    form += [(f"events[{i}]", e) for i, e in enumerate(events or [])]
    request = urllib.request.Request(
        f"{localstripe_url}/_config/webhooks/{hook_id}", data=urlencode(form).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        response.read()


# -- localstripe -----------------------------------------------------------------------------------


class LocalStripe:
    """``localstripe --port N --from-scratch`` as a subprocess on a free loopback port.

    localstripe pickles its store to /tmp/localstripe.pickle after every write; with
    ``--from-scratch`` it never reads it back, so parallel runs do not see each other's data.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = tempfile.NamedTemporaryFile(prefix="localstripe-", suffix=".log", delete=False)
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 20.0) -> None:
        self._process = subprocess.Popen(
            [
                str(LOCALSTRIPE if LOCALSTRIPE.exists() else shutil.which("localstripe") or "localstripe"),
                "--port",
                str(self.port),
                "--from-scratch",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=tempfile.gettempdir(),
        )
        deadline = time.monotonic() + timeout_s
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"localstripe exited with {self._process.returncode}: {self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/js.stripe.com/v3/", timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"localstripe did not answer on {self.url}: {self.log()}")
            time.sleep(0.05)

    def log(self) -> str:
        return Path(self._log.name).read_text(errors="replace")[-2000:]

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._log.close()
        with contextlib.suppress(OSError):
            os.unlink(self._log.name)


@contextlib.contextmanager
def running_localstripe() -> Iterator[LocalStripe]:
    server = LocalStripe()
    server.start()
    try:
        yield server
    finally:
        server.stop()


# -- the quirks proxy --------------------------------------------------------------------------------


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


@dataclass
class _Txn:
    id: str
    created: int
    type: Literal["charge", "refund"]
    amount: int
    fee: int
    currency: str
    source: str  # ch_... / re_...
    payment_intent: str


@dataclass
class _Ledger:
    captured: dict[str, int] = field(default_factory=dict)  # PaymentIntent -> captured amount
    refunded: dict[str, int] = field(default_factory=dict)
    charge_txn: dict[str, str] = field(default_factory=dict)  # charge -> our balance transaction
    txns: list[_Txn] = field(default_factory=list)


class _UpstreamError(Exception):
    """localstripe refused a lookup the proxy needed: answer with its error."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status, body)
        self.status, self.body = status, body


def _first(pairs: list[tuple[str, str]], key: str) -> str | None:
    return next((v for k, v in pairs if k == key), None)


def _expand(pairs: list[tuple[str, str]]) -> list[str]:
    return [v for k, v in pairs if re.fullmatch(r"expand\[\d*\]", k)]


def _without(pairs: list[tuple[str, str]], names: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in pairs if k.split("[", 1)[0] not in names]


def _nested(pairs: list[tuple[str, str]], names: tuple[str, ...]) -> dict[str, Any]:
    """``automatic_payment_methods[enabled]=true`` -> ``{"automatic_payment_methods": {"enabled": True}}``."""
    out: dict[str, Any] = {}
    for k, v in pairs:
        parts = re.findall(r"[^\[\]]+", k)
        if not parts or parts[0] not in names:
            continue
        value: Any = {"true": True, "false": False}.get(v, v)
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return out


def _error(status: int, type_: str, message: str, **extra: Any) -> tuple[int, dict[str, Any]]:
    return status, {"error": {"type": type_, "message": message, **extra}}


class StripeQuirksProxy:
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
        self._ledger = _Ledger()
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
                    status, body = _error(
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
                except _UpstreamError as e:
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
        _, body = _error(500, "api_error", "An unknown error occurred (injected by the test).")
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
        status, body = await self._upstream("GET", path, [], f"Bearer {_PROXY_SECRET_KEY}")
        if status != 200:
            raise _UpstreamError(status, body)
        return body

    # -- routes --

    async def _route(self, request: web.Request, path: str, pairs: list[tuple[str, str]]) -> tuple[int, dict[str, Any]]:
        auth = request.headers.get("Authorization", "")
        method = request.method
        expand = _expand(pairs)
        client_side = auth.startswith("Bearer pk_")
        if client_side:
            # Stripe.js: publishable key + the intent's client_secret, on confirm only.
            match = re.fullmatch(r"/v1/(payment_intents|setup_intents)/([^/]+)/confirm", path)
            if method != "POST" or match is None:
                return _error(401, "invalid_request_error", "This API call cannot be made with a publishable API key.")
            intent = await self._get(f"/v1/{match[1]}/{match[2]}")
            if _first(pairs, "client_secret") != intent.get("client_secret"):
                return _error(400, "invalid_request_error", "The client_secret provided does not match.")
            auth = f"Bearer {_PROXY_SECRET_KEY}"

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
            return await self._upstream(method, path, _without(pairs, _STRIPPED["/v1/setup_intents"]), auth)
        if method == "POST" and (m := re.fullmatch(r"/v1/setup_intents/([^/]+)/confirm", path)):
            return await self._confirm_setup_intent(m[1], pairs, auth)
        status, body = await self._upstream(method, path, _without(pairs, ("expand",)), auth)
        return status, await self._shape(body, expand) if status < 400 else body

    async def _create_payment_intent(
        self, pairs: list[tuple[str, str]], auth: str, expand: list[str]
    ) -> tuple[int, dict[str, Any]]:
        kept = _nested(pairs, _STRIPPED["/v1/payment_intents"])
        forwarded = _without(pairs, _STRIPPED["/v1/payment_intents"])
        method_ref = _first(pairs, "payment_method")
        declined = method_ref in DECLINING_METHODS and _first(pairs, "confirm") == "true"
        if declined or method_ref in DECLINING_METHODS:
            # localstripe does not know these ids: create the intent without the card.
            forwarded = _without(forwarded, ("payment_method", "confirm", "off_session"))
        status, pi = await self._upstream("POST", "/v1/payment_intents", _without(forwarded, ("expand",)), auth)
        if status >= 400:
            return status, pi
        self._overlay[pi["id"]] = kept
        if declined:
            assert method_ref is not None
            return await self._decline(pi["id"], method_ref)
        shaped = await self._shape(pi, expand)
        if shaped.get("status") == "requires_capture":
            self._emit("payment_intent.amount_capturable_updated", shaped)
        return status, shaped

    async def _confirm_payment_intent(
        self, pi_id: str, pairs: list[tuple[str, str]], auth: str, expand: list[str]
    ) -> tuple[int, dict[str, Any]]:
        method_ref = _first(pairs, "payment_method")
        if method_ref in DECLINING_METHODS:
            return await self._decline(pi_id, method_ref)
        if method_ref is not None:
            # localstripe confirms only an intent that already has its payment method.
            status, body = await self._upstream(
                "POST", f"/v1/payment_intents/{pi_id}", [("payment_method", method_ref)], auth
            )
            if status >= 400:
                return status, body
        status, pi = await self._upstream("POST", f"/v1/payment_intents/{pi_id}/confirm", [], auth)
        if status >= 400:
            return status, pi
        shaped = await self._shape(pi, expand)
        if shaped.get("status") == "requires_capture":
            self._emit("payment_intent.amount_capturable_updated", shaped)
        return status, shaped

    async def _decline(self, pi_id: str, method_ref: str) -> tuple[int, dict[str, Any]]:
        code, decline_code, message = DECLINING_METHODS[method_ref]
        error: dict[str, Any] = {"type": "card_error", "code": code, "message": message}
        if decline_code is not None:
            error["decline_code"] = decline_code
        self._overlay.setdefault(pi_id, {})["last_payment_error"] = {
            **error,
            "payment_method": {"id": method_ref, "object": "payment_method", "type": "card"},
        }
        pi = await self._shape(await self._get(f"/v1/payment_intents/{pi_id}"), [])
        self._emit("payment_intent.payment_failed", pi)
        return 402, {
            "error": {
                **error,
                "doc_url": f"https://docs.stripe.com/error-codes/{code.replace('_', '-')}",
                "payment_intent": pi,
            }
        }

    async def _finish_payment_intent(
        self, pi_id: str, action: str, pairs: list[tuple[str, str]], auth: str, expand: list[str]
    ) -> tuple[int, dict[str, Any]]:
        before = await self._get(f"/v1/payment_intents/{pi_id}")
        forwarded = [(k, v) for k, v in pairs if k == "amount_to_capture"] if action == "capture" else []
        if action == "capture" and before.get("status") != "requires_capture":
            return _error(
                400,
                "invalid_request_error",
                f"This PaymentIntent could not be captured because it has a status of {before.get('status')}.",
                code="payment_intent_unexpected_state",
            )
        status, pi = await self._upstream("POST", f"/v1/payment_intents/{pi_id}/{action}", forwarded, auth)
        if status >= 400:
            return status, pi
        if action == "capture":
            amount = int(_first(pairs, "amount_to_capture") or before["amount"])
            charge = before["latest_charge"]["id"]
            self._ledger.captured[pi_id] = amount
            txn = _Txn(
                id=f"txn_{secrets.token_hex(12)}",
                created=int(time.time()),
                type="charge",
                amount=amount,
                fee=amount * _FEE_PERMILLE // 1000 + _FEE_FIXED,
                currency=before["currency"],
                source=charge,
                payment_intent=pi_id,
            )
            self._ledger.txns.append(txn)
            self._ledger.charge_txn[charge] = txn.id
        shaped = await self._shape(pi, expand)
        self._emit("payment_intent.succeeded" if action == "capture" else "payment_intent.canceled", shaped)
        return status, shaped

    async def _create_refund(self, pairs: list[tuple[str, str]], auth: str) -> tuple[int, dict[str, Any]]:
        pi_id = _first(pairs, "payment_intent")
        amount = _first(pairs, "amount")
        if pi_id is not None:
            captured = self._ledger.captured.get(pi_id, 0)
            left = captured - self._ledger.refunded.get(pi_id, 0)
            wanted = int(amount) if amount is not None else left
            if captured == 0:
                return _error(
                    400,
                    "invalid_request_error",
                    "This PaymentIntent does not have a successful charge to refund.",
                    code="charge_not_refundable",
                )
            if wanted > left:
                return _error(
                    400,
                    "invalid_request_error",
                    f"Refund amount ({wanted}) is greater than unrefunded amount on charge ({left})",
                    code="amount_too_large",
                )
            pairs = [*(p for p in pairs if p[0] != "amount"), ("amount", str(wanted))]
        status, refund = await self._upstream("POST", "/v1/refunds", _without(pairs, ("expand",)), auth)
        if status >= 400:
            return status, refund
        refund_pi = refund.get("payment_intent") or pi_id
        if refund_pi is not None and refund.get("status") == "succeeded":
            self._ledger.refunded[refund_pi] = self._ledger.refunded.get(refund_pi, 0) + refund["amount"]
            self._ledger.txns.append(
                _Txn(
                    id=f"txn_{secrets.token_hex(12)}",
                    created=int(time.time()),
                    type="refund",
                    amount=-refund["amount"],
                    fee=0,
                    currency=refund["currency"],
                    source=refund["id"],
                    payment_intent=refund_pi,
                )
            )
        refund = {**refund, "payment_intent": refund_pi}
        refund.pop("date", None)
        self._emit("refund.created", refund)
        return status, refund

    async def _confirm_setup_intent(
        self, si_id: str, pairs: list[tuple[str, str]], auth: str
    ) -> tuple[int, dict[str, Any]]:
        status, si = await self._upstream(
            "POST", f"/v1/setup_intents/{si_id}/confirm", _without(pairs, _STRIPPED["confirm"]), auth
        )
        if status < 400 and si.get("status") == "succeeded" and si.get("customer") and si.get("payment_method"):
            # Stripe attaches the saved card to the intent's customer; localstripe does not.
            attach_status, body = await self._upstream(
                "POST", f"/v1/payment_methods/{si['payment_method']}/attach", [("customer", si["customer"])], auth
            )
            if attach_status >= 400:
                return attach_status, body
        return status, si

    # -- Stripe's shape of today --

    async def _shape(self, obj: dict[str, Any], expand: list[str]) -> dict[str, Any]:
        kind = obj.get("object")
        if kind == "list":
            inner = [e[len("data.") :] for e in expand if e.startswith("data.")]
            return {**obj, "data": [await self._shape(item, inner) for item in obj.get("data", [])]}
        if kind == "payment_intent":
            return await self._shape_payment_intent(obj, expand)
        if kind == "charge":
            return await self._shape_charge(obj)
        return obj

    async def _shape_payment_intent(self, pi: dict[str, Any], expand: list[str]) -> dict[str, Any]:
        pi = dict(pi)
        pi.pop("charges", None)  # removed in API version 2022-11-15
        for k, v in self._overlay.get(pi["id"], {}).items():
            if pi.get(k) is None:
                pi[k] = v
        status = pi.get("status")
        pi["amount_capturable"] = pi["amount"] if status == "requires_capture" else 0
        pi["amount_received"] = self._ledger.captured.get(pi["id"], 0) if status == "succeeded" else 0
        charge = pi.get("latest_charge")
        if isinstance(charge, dict):
            pi["latest_charge"] = await self._shape_charge(charge) if "latest_charge" in expand else charge["id"]
        return pi

    async def _shape_charge(self, charge: dict[str, Any]) -> dict[str, Any]:
        charge = dict(charge)
        pi_id = charge.get("payment_intent")
        charge["amount_captured"] = self._ledger.captured.get(pi_id or "", 0) if charge.get("captured") else 0
        if charge.get("id") in self._ledger.charge_txn:
            charge["balance_transaction"] = self._ledger.charge_txn[charge["id"]]
        if isinstance(charge.get("payment_method"), str):
            pm = await self._get(f"/v1/payment_methods/{charge['payment_method']}")
            card = pm.get("card") or {}
            charge["payment_method_details"] = {
                "type": "card",
                "card": {
                    "brand": card.get("brand"),
                    "last4": card.get("last4"),
                    "exp_month": card.get("exp_month"),
                    "exp_year": card.get("exp_year"),
                    "funding": card.get("funding"),
                    "country": card.get("country"),
                    "wallet": None,
                },
            }
        return charge

    async def _balance_transactions(self, pairs: list[tuple[str, str]]) -> dict[str, Any]:
        bounds = {m[1]: int(v) for k, v in pairs if (m := re.fullmatch(r"created\[(gte|gt|lte|lt)\]", k))}
        checks = {
            "gte": lambda t, b: t >= b,
            "gt": lambda t, b: t > b,
            "lte": lambda t, b: t <= b,
            "lt": lambda t, b: t < b,
        }
        txns = [t for t in self._ledger.txns if all(checks[op](t.created, b) for op, b in bounds.items())]
        txns.sort(key=lambda t: t.created, reverse=True)  # newest first, as Stripe lists
        after = _first(pairs, "starting_after")
        if after is not None:
            ids = [t.id for t in txns]
            txns = txns[ids.index(after) + 1 :] if after in ids else []
        limit = int(_first(pairs, "limit") or 10)
        page, has_more = txns[:limit], len(txns) > limit
        expand = _expand(pairs)
        data = []
        for t in page:
            source: Any = t.source
            if "data.source" in expand or "data.source.payment_intent" in expand:
                source = await self._get(f"/v1/{'charges' if t.type == 'charge' else 'refunds'}/{t.source}")
                source = {**source, "payment_intent": t.payment_intent}
                if source.get("object") == "charge":
                    source = await self._shape_charge(source)
                if "data.source.payment_intent" in expand:
                    source["payment_intent"] = await self._shape_payment_intent(
                        await self._get(f"/v1/payment_intents/{t.payment_intent}"), []
                    )
            data.append(
                {
                    "id": t.id,
                    "object": "balance_transaction",
                    "amount": t.amount,
                    "available_on": t.created,
                    "created": t.created,
                    "currency": t.currency,
                    "description": None,
                    "fee": t.fee,
                    "fee_details": [{"amount": t.fee, "currency": t.currency, "type": "stripe_fee"}] if t.fee else [],
                    "net": t.amount - t.fee,
                    "reporting_category": t.type,
                    "source": source,
                    "status": "available",
                    "type": t.type,
                }
            )
        return {"object": "list", "url": "/v1/balance_transactions", "has_more": has_more, "data": data}

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
        status: int | None = None
        try:
            async with self._session.post(hook.url, data=payload, headers=headers) as response:
                status = response.status
        except aiohttp.ClientError:
            status = None
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
