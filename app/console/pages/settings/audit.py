"""The settings pages' changes in the tenant's audit log, as the operator API's are.

``AuditMiddleware`` (app/operators/audit.py) records an API change answered 2xx; a console
change answers a redirect (303) or a page (2xx, a refused form 4xx). This records those
whose handler names the API operation it performs (its ``operation_id``, e.g. UpdateTariff),
so the log reads the same whichever way the change came in; the entry's path is the
console's. Handlers without an operation id (the price preview) change nothing and are
not recorded.
"""

from __future__ import annotations

from typing import cast

from litestar.types import HTTPScope, Message, Receive, Scope, Send

from app.operators.audit import CHANGES, AuditMiddleware


def _done(status: int) -> bool:
    return 200 <= status < 300 or status == 303


class ConsoleAuditMiddleware(AuditMiddleware):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = scope.get("route_handler")
        named = isinstance(getattr(handler, "operation_id", None), str)
        if scope["type"] != "http" or scope["method"] not in CHANGES or not named:  # type: ignore[typeddict-item]
            await self.app(scope, receive, send)
            return
        http_scope = cast("HTTPScope", scope)

        async def send_recorded(message: Message) -> None:
            if message["type"] == "http.response.start" and _done(message["status"]):
                await self._record(http_scope, message["status"])
            await send(message)

        await self.app(scope, receive, send_recorded)
