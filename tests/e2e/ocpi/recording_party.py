"""A partner's server that only listens: every OCPI call it gets is recorded and answered
1000 (or what a test tells it to answer). The module tests use it to see what Laddnät
pushes; the registration tests talk to devtools' full eMSP party instead.

    async with recording_party() as party:
        partner = await registered_partner(maker, operator_id, party)
        ... the system pushes ...
        calls = await party.wait_for(lambda c: c.method == "PATCH")
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
import uvicorn
from litestar import Litestar, Request, Response, route

from app.core.security import digest_secret
from app.roaming.models import OcpiPartner
from app.runner import _EmbeddedServer

# The eMSP modules a partner offers us, as its version details would list them.
EMSP_ENDPOINTS = (
    ("credentials", "SENDER"),
    ("credentials", "RECEIVER"),
    ("locations", "RECEIVER"),
    ("sessions", "RECEIVER"),
    ("cdrs", "RECEIVER"),
    ("tariffs", "RECEIVER"),
    ("tokens", "SENDER"),
    ("commands", "SENDER"),
)


@dataclass(frozen=True)
class Call:
    method: str
    path: str  # below the party's base URL, e.g. /emsp/2.2.1/locations/SE/LAD/L1/SE*LAD*E1
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class RecordingParty:
    base_url: str = ""
    calls: list[Call] = field(default_factory=list)
    # path prefix -> (HTTP status, envelope) answered instead of 1000 (e.g. to play "down").
    answers: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    def module_url(self, module: str) -> str:
        return f"{self.base_url}/emsp/2.2.1/{module}"

    async def wait_for(self, match: Callable[[Call], bool], *, count: int = 1, timeout_s: float = 10.0) -> list[Call]:
        """The calls matching ``match`` once there are ``count`` of them (TimeoutError if not)."""
        async with asyncio.timeout(timeout_s), self._arrived:
            await self._arrived.wait_for(lambda: len([c for c in self.calls if match(c)]) >= count)
            return [c for c in self.calls if match(c)]

    async def record(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        raw = await request.body()
        body = msgspec.json.decode(raw) if raw else None
        path = request.url.path
        call = Call(request.method, path, dict(request.query_params), dict(request.headers), body)
        async with self._arrived:
            self.calls.append(call)
            self._arrived.notify_all()
        for prefix, (status, envelope) in self.answers.items():
            if path.startswith(prefix):
                return Response(msgspec.json.encode(envelope), status_code=status, media_type="application/json")
        data: Any = None
        if request.method == "POST" and path.endswith("/authorize"):
            data = {"allowed": "ALLOWED", "token": body, "authorization_reference": "REF-" + secrets.token_hex(4)}
        return Response(
            msgspec.json.encode({"data": data, "status_code": 1000, "timestamp": datetime.now(UTC).isoformat()}),
            media_type="application/json",
        )


@contextlib.asynccontextmanager
async def recording_party() -> AsyncIterator[RecordingParty]:
    party = RecordingParty()

    @route("/{path:path}", http_method=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def anything(request: Request[Any, Any, Any], path: str) -> Response[bytes]:
        return await party.record(request)

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    party.base_url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    server = _EmbeddedServer(uvicorn.Config(Litestar([anything]), log_config=None, access_log=False, lifespan="off"))
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield party
    finally:
        server.should_exit = True
        await serving
        listener.close()


async def registered_partner(
    maker: Any, operator_id: Any, party: RecordingParty, *, country_code: str = "NL", party_id: str = "EMP"
) -> tuple[OcpiPartner, str]:
    """A partner registered with ``operator_id`` whose endpoints are ``party``'s; and the
    Authorization header value it calls us with."""
    token = "test-token-c-" + secrets.token_hex(8)
    partner = OcpiPartner(
        operator_id=operator_id,
        name=f"{country_code}*{party_id} test eMSP",
        state="registered",
        country_code=country_code,
        party_id=party_id,
        roles=[
            {
                "role": "EMSP",
                "country_code": country_code,
                "party_id": party_id,
                "business_details": {"name": "Test eMSP"},
            }
        ],
        token_digest=digest_secret(token),
        their_token="test-token-b-" + secrets.token_hex(8),
        versions_url=f"{party.base_url}/emsp/versions",
        version="2.2.1",
        endpoints=[{"identifier": m, "role": r, "url": party.module_url(m)} for m, r in EMSP_ENDPOINTS],
        registered_at=datetime.now(UTC),
    )
    async with maker() as db:
        db.add(partner)
        await db.commit()
        await db.refresh(partner)
    return partner, "Token " + base64.b64encode(token.encode()).decode()
