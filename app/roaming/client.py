"""Calling a partner's OCPI endpoints: their versions, modules and command response URLs.

Every call carries our credentials token for them (base64, 2.2.1), a fresh X-Request-ID,
an X-Correlation-ID and the OCPI-from/OCPI-to routing headers (our tenant's party, theirs),
and unwraps their envelope: a call counts as done only when the HTTP status is 2xx and the
OCPI status is 1xxx.

A partner's URLs come from the partner: unless LADDNAT_OCPI_ALLOW_PRIVATE_PARTNERS is set,
they must lead to public addresses (as operators' webhook URLs must), so a partner cannot
point our calls into our own network.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import msgspec

from app.core.settings import OcpiSettings
from app.operators.models import Operator
from app.operators.webhooks.targets import TargetRefused, checked_address
from app.roaming.auth import encode_token
from app.roaming.models import OcpiPartner

USER_AGENT = "Laddnat-OCPI/2.2.1"
MAX_RESPONSE_BYTES = 4 * 1024 * 1024


class PartnerCallFailed(Exception):
    """The partner could not be reached, or answered with an error (HTTP or OCPI)."""

    def __init__(self, message: str, *, http_status: int | None = None, ocpi_status: int | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.ocpi_status = ocpi_status


@dataclass(frozen=True)
class Party:
    country_code: str
    party_id: str

    @classmethod
    def of_operator(cls, operator: Operator) -> Party:
        """Our party: the tenant's."""
        return cls(operator.country_code, operator.party_id)

    @classmethod
    def of_partner(cls, partner: OcpiPartner) -> Party | None:
        """The partner's main party, None before its credentials named one."""
        if partner.country_code and partner.party_id:
            return cls(partner.country_code, partner.party_id)
        return None


@dataclass(frozen=True)
class Answer:
    http_status: int
    status_code: int
    data: Any
    headers: httpx.Headers


class PartnerClient:
    """One partner as seen from one of our tenants: ``token`` is the credentials token the
    partner gave us (None during the handshake's first calls, which use token A)."""

    def __init__(
        self,
        settings: OcpiSettings,
        token: str,
        *,
        ours: Party | None = None,
        theirs: Party | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.token = token
        self.ours = ours
        self.theirs = theirs
        self.transport = transport

    def headers(self, correlation_id: str | None = None) -> dict[str, str]:
        headers = {
            "Authorization": encode_token(self.token),
            "User-Agent": USER_AGENT,
            "X-Request-ID": str(uuid.uuid4()),
            "X-Correlation-ID": correlation_id or str(uuid.uuid4()),
        }
        if self.ours is not None:
            headers["OCPI-from-country-code"] = self.ours.country_code
            headers["OCPI-from-party-id"] = self.ours.party_id
        if self.theirs is not None:
            headers["OCPI-to-country-code"] = self.theirs.country_code
            headers["OCPI-to-party-id"] = self.theirs.party_id
        return headers

    async def call(
        self,
        method: str,
        url: str,
        body: Any = None,
        *,
        params: dict[str, str] | None = None,
        timeout_s: float | None = None,
        correlation_id: str | None = None,
    ) -> Answer:
        """``method`` ``url`` with ``body`` (JSON); the partner's unwrapped answer, or
        PartnerCallFailed."""
        await self._check_target(url)
        content = None if body is None else msgspec.json.encode(body)
        headers = self.headers(correlation_id)
        if content is not None:
            headers["Content-Type"] = "application/json"
        timeout = timeout_s if timeout_s is not None else self.settings.partner_timeout_s
        try:
            async with httpx.AsyncClient(timeout=timeout, follow_redirects=False, transport=self.transport) as http:
                response = await http.request(method, url, content=content, headers=headers, params=params)
        except httpx.TimeoutException:
            raise PartnerCallFailed(f"{method} {url}: no answer within {timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise PartnerCallFailed(f"{method} {url}: {type(exc).__name__}: {exc}"[:300]) from None
        if len(response.content) > MAX_RESPONSE_BYTES:
            raise PartnerCallFailed(f"{method} {url}: answer larger than {MAX_RESPONSE_BYTES} bytes")
        try:
            payload = msgspec.json.decode(response.content) if response.content else {}
        except msgspec.DecodeError:
            payload = None
        if not isinstance(payload, dict):
            raise PartnerCallFailed(
                f"{method} {url}: HTTP {response.status_code} without an OCPI envelope",
                http_status=response.status_code,
            )
        status_code = payload.get("status_code")
        if not isinstance(status_code, int):
            status_code = 0
        if not response.is_success or not 1000 <= status_code < 2000:
            message = payload.get("status_message") or ""
            raise PartnerCallFailed(
                f"{method} {url}: HTTP {response.status_code}, OCPI {status_code} {message}".strip()[:300],
                http_status=response.status_code,
                ocpi_status=status_code,
            )
        return Answer(response.status_code, status_code, payload.get("data"), response.headers)

    async def _check_target(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PartnerCallFailed(f"{url!r} is not an http(s) URL")
        if self.settings.allow_private_partners:
            return
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            await checked_address(parts.hostname, port, allow_private=False)
        except TargetRefused:
            raise PartnerCallFailed(f"{url}: does not lead to a public address") from None


def endpoint_url(endpoints: list[dict[str, Any]], module: str, role: str) -> str | None:
    """The partner's URL of ``module`` in ``role`` (SENDER | RECEIVER) from its version details."""
    for endpoint in endpoints:
        if endpoint.get("identifier") == module and str(endpoint.get("role", "")).upper() == role:
            url = endpoint.get("url")
            return str(url).rstrip("/") if url else None
    return None
