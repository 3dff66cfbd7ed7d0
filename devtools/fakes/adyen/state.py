"""The fake Adyen's state, shared by the parts AdyenFake is made of (server.py composes them)."""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from devtools.fakes.adyen.records import (
    DEFAULT_API_KEY,
    DEFAULT_COMPANY,
    DEFAULT_HMAC_KEY,
    DEFAULT_MERCHANT,
    FailureRule,
    FakePayment,
    FakeSession,
    RecordedRequest,
    Refusal,
    StoredCard,
)


class AdyenState:
    """Accounts and keys, what the fake holds (sessions, payments, saved cards, requests,
    notifications sent, report batches) and its id generators."""

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        merchant_account: str = DEFAULT_MERCHANT,
        company_account: str = DEFAULT_COMPANY,
        hmac_key: str = DEFAULT_HMAC_KEY,
        clock: Callable[[], datetime] | None = None,
        report_zone: tuple[str, float] = ("CET", 1),
        api_version: str = "v72",
    ) -> None:
        self.api_key = api_key
        self.merchant_account = merchant_account
        self.company_account = company_account
        self.hmac_key = hmac_key
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        # The TimeZone column of the report and the fixed offset of its Creation Dates.
        self.report_zone = report_zone
        self.api_version = api_version
        # Where notifications go (None: nowhere); set by a test that runs a webhook endpoint.
        self.webhook_url: str | None = None
        # Fees the report books on each Settled row, in minor units.
        self.commission_minor = 10
        self.markup_minor = 5

        self.sessions: dict[str, FakeSession] = {}
        self.payments: dict[str, FakePayment] = {}
        self.stored_methods: dict[str, list[StoredCard]] = {}
        self.requests: list[RecordedRequest] = []
        # (url, body, HTTP status answered or None when unreachable) per notification posted.
        self.notifications_sent: list[tuple[str, dict[str, Any], int | None]] = []

        self._idempotent: dict[str, tuple[int, dict[str, Any]]] = {}
        self._failures: list[FailureRule] = []
        self._refused_methods: dict[str, Refusal] = {}
        self._refused_shoppers: dict[str, Refusal] = {}
        self._report_batches: list[list[dict[str, str]]] = [[]]
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self.port = 0
        # A saved card id every test may use to get a refusal (what refuse_method sets up).
        self._refused_methods["refused-method"] = Refusal("Not enough balance", "12")

    def _new_psp(self) -> str:
        # 16 characters, like Adyen's; unique within the fake.
        return f"F{next(self._ids):06d}{secrets.token_hex(5).upper()[:9]}"

    def _new_id(self, prefix: str, length: int) -> str:
        return prefix + secrets.token_hex(length).upper()[:length]

    if TYPE_CHECKING:
        # Defined in settlement.py and notifications.py; declared here so the Checkout API
        # handlers can book report rows and notify.
        def add_settlement_row(
            self,
            type: str,
            psp_reference: str,
            merchant_reference: str,
            amount_minor: int,
            currency: str,
            *,
            modification_reference: str = "",
            modification_merchant_reference: str = "",
            at: datetime | None = None,
            commission_minor: int = 0,
            markup_minor: int = 0,
            payment_method: str = "visa",
        ) -> None: ...

        def notification(
            self,
            event_code: str,
            psp_reference: str,
            merchant_reference: str,
            amount: int,
            currency: str,
            success: bool = True,
            original_reference: str | None = None,
            **options: Any,
        ) -> dict[str, Any]: ...

        def _notify_later(self, body: dict[str, Any]) -> None: ...

        def _authorisation_notification(self, payment: FakePayment, refusal: Refusal | None) -> dict[str, Any]: ...
