"""What both sides of the fake's OCPI share: the envelope, the token header, the peer."""

from __future__ import annotations

import base64
import binascii
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

VERSION = "2.2.1"
# The modules an eMSP offers, with its role in each.
EMSP_MODULES: tuple[tuple[str, str], ...] = (
    ("credentials", "SENDER"),
    ("credentials", "RECEIVER"),
    ("locations", "RECEIVER"),
    ("sessions", "RECEIVER"),
    ("cdrs", "RECEIVER"),
    ("tariffs", "RECEIVER"),
    ("tokens", "SENDER"),
    ("commands", "SENDER"),
    ("chargingprofiles", "SENDER"),
)
ROOT = "/ocpi/emsp"
# The AuthorizationInfo.allowed values (2.2.1 mod_tokens AllowedType).
ALLOWED_TYPES = ("ALLOWED", "BLOCKED", "EXPIRED", "NO_CREDIT", "NOT_ALLOWED")


class RegistrationRefused(Exception):
    """The other party refused our credentials call (or could not be used): its statuses."""

    def __init__(self, message: str, *, http_status: int | None = None, status_code: int | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.status_code = status_code


@dataclass
class Peer:
    """A CPO this party is connected with: ``token_in`` is what it calls us with, ``token_out``
    what we call it with."""

    token_in: str
    token_out: str
    versions_url: str
    endpoints: list[dict[str, str]]
    roles: list[dict[str, Any]]
    state: str = "registered"

    def url(self, module: str) -> str:
        found = [e["url"] for e in self.endpoints if e.get("identifier") == module]
        if not found:
            raise KeyError(f"the CPO lists no {module} endpoint")
        # A CPO is the sender of locations, sessions, cdrs, tariffs; receiver of the rest.
        return found[0].rstrip("/")

    def parties(self) -> set[tuple[str, str]]:
        return {(str(r.get("country_code", "")).upper(), str(r.get("party_id", "")).upper()) for r in self.roles}


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


class Refusal(Exception):
    """An answer in the envelope with an error status."""

    def __init__(self, http_status: int, status_code: int, message: str) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.status_code = status_code
        self.message = message


def now_text() -> str:
    moment = datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def envelope(data: Any = None, status_code: int = 1000, message: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"data": data, "status_code": status_code, "timestamp": now_text()}
    if message:
        body["status_message"] = message
    return body


def next_link(header: str | None) -> str | None:
    """The URL of ``Link: <url>; rel="next"`` (transport_and_format, pagination), if any."""
    for link in (header or "").split(","):
        target, _, params = link.partition(";")
        if 'rel="next"' in params.replace(" ", "") or "rel=next" in params.replace(" ", ""):
            return target.strip().strip("<>")
    return None


def token_header(token: str) -> str:
    """2.2.1: the credentials token travels base64-encoded."""
    return "Token " + base64.b64encode(token.encode()).decode()


def presented(header: str | None) -> list[str]:
    """The token in ``Authorization: Token ...``: decoded from base64 (2.2.1) and as sent (2.1.1)."""
    if not header:
        return []
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "token" or not value:
        return []
    found = [value]
    with contextlib.suppress(binascii.Error, UnicodeDecodeError, ValueError):
        found.insert(0, base64.b64decode(value, validate=True).decode("ascii"))
    return found
