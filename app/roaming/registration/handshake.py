"""The half of the handshake both directions share: reading a partner's versions and the
2.2.1 version details with the token it gave us, and our own credentials token.

A partner we cannot use is told why with the spec's codes (2.2.1 7.1.5, 7.1.6): 3001 when
its API cannot be reached or answers nonsense, 3002 when it offers no 2.2.1, 3003 when a
module we need is missing from its details.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from app.core.settings import OcpiSettings
from app.roaming.client import PartnerCallFailed, PartnerClient, Party
from app.roaming.envelope import Status
from app.roaming.paths import VERSION

# What a partner's 2.2.1 details must list for us to connect: the credentials module, to
# tell it of updates and unregistration. Every other module is optional: we push to those
# it has (a partner without a CDRs receiver gets no CDRs pushed, and can pull them).
REQUIRED_MODULES = ("credentials",)


class HandshakeFailed(Exception):
    """The partner's versions could not be used: ``status`` is 3001, 3002 or 3003."""

    def __init__(self, status: Status, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class PartnerVersion:
    version: str
    url: str
    endpoints: list[dict[str, Any]]


def new_token() -> str:
    """A credentials token we hand out (A or C, or B when we register): 43 URL-safe characters,
    inside the spec's 64."""
    return secrets.token_urlsafe(32)


async def fetch_version(settings: OcpiSettings, token: str, versions_url: str, ours: Party) -> PartnerVersion:
    """The partner's 2.2.1 version details, read with ``token``; HandshakeFailed if unusable."""
    client = PartnerClient(settings, token, ours=ours)
    try:
        versions = (await client.call("GET", versions_url)).data
    except PartnerCallFailed as exc:
        raise HandshakeFailed(Status.UNABLE_TO_USE_CLIENT_API, f"versions: {exc}") from None
    if not isinstance(versions, list) or not all(isinstance(v, dict) for v in versions):
        raise HandshakeFailed(Status.UNABLE_TO_USE_CLIENT_API, f"{versions_url}: data is not a list of versions")
    offered = [str(v.get("version")) for v in versions]
    url = next((v.get("url") for v in versions if v.get("version") == VERSION), None)
    if url is None:
        raise HandshakeFailed(
            Status.UNSUPPORTED_VERSION, f"no mutual version: we speak {VERSION}, the partner offers {offered}"
        )
    if not isinstance(url, str) or not url:
        raise HandshakeFailed(Status.UNABLE_TO_USE_CLIENT_API, f"{versions_url}: version {VERSION} has no url")
    try:
        details = (await client.call("GET", url)).data
    except PartnerCallFailed as exc:
        raise HandshakeFailed(Status.UNABLE_TO_USE_CLIENT_API, f"version details: {exc}") from None
    endpoints = details.get("endpoints") if isinstance(details, dict) else None
    if not isinstance(endpoints, list):
        raise HandshakeFailed(Status.UNABLE_TO_USE_CLIENT_API, f"{url}: data holds no endpoints")
    kept = [
        {"identifier": str(e["identifier"]), "role": str(e.get("role", "")).upper(), "url": str(e["url"])}
        for e in endpoints
        if isinstance(e, dict) and e.get("identifier") and e.get("url")
    ]
    missing = [m for m in REQUIRED_MODULES if not any(e["identifier"] == m for e in kept)]
    if missing:
        raise HandshakeFailed(Status.NO_MATCHING_ENDPOINTS, f"the partner's {VERSION} details lack {missing}")
    return PartnerVersion(VERSION, url, kept)
