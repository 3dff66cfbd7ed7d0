"""The headers every OCPI answer carries (2.2.1 4.1.4 "Message Routing Headers", 4.2
"Unique message IDs"), whatever the answer (a success, an error, a 401):

- X-Request-ID: the request's, unchanged; X-Correlation-ID: the request's (a new one when
  the request had none, since every response SHALL carry one);
- OCPI-to-*: the requesting party (the request's OCPI-from-*, else the partner's party);
  OCPI-from-*: us (the request's OCPI-to-*, else the partner's tenant's party).

The partner dependency leaves the two parties in the request's state
(:func:`remember_parties`); a request that never got that far answers with the IDs only.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

STATE_KEY = "ocpi_parties"  # in scope["state"]: ((their cc, pid), (our cc, pid))


def remember_parties(scope_state: dict[str, Any], theirs: tuple[str, str] | None, ours: tuple[str, str]) -> None:
    scope_state[STATE_KEY] = (theirs, ours)


class OcpiHeaders(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        request = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        request_id = request.get("x-request-id") or str(uuid.uuid4())
        correlation_id = request.get("x-correlation-id") or str(uuid.uuid4())

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableScopeHeaders.from_message(message)
                headers["X-Request-ID"] = request_id[:255]
                headers["X-Correlation-ID"] = correlation_id[:255]
                theirs, ours = scope.get("state", {}).get(STATE_KEY, (None, None))
                to_cc = request.get("ocpi-from-country-code") or (theirs[0] if theirs else None)
                to_pid = request.get("ocpi-from-party-id") or (theirs[1] if theirs else None)
                from_cc = request.get("ocpi-to-country-code") or (ours[0] if ours else None)
                from_pid = request.get("ocpi-to-party-id") or (ours[1] if ours else None)
                for name, value in (
                    ("OCPI-to-country-code", to_cc),
                    ("OCPI-to-party-id", to_pid),
                    ("OCPI-from-country-code", from_cc),
                    ("OCPI-from-party-id", from_pid),
                ):
                    if value:
                        headers[name] = value[:3]
            await send(message)

        await next_app(scope, receive, send_with_headers)
