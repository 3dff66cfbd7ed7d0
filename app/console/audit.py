"""The console's changes in the tenant's audit log, as the operator API's are.

``AuditMiddleware`` (app/operators/audit.py) records an API change answered 2xx; a console
change answers a redirect (303) or a page (2xx, a refused form 4xx). This records those
whose handler names the API operation it performs (its ``operation_id``, e.g. UpdateTariff),
so the log reads the same whichever way the change came in; the entry's path is the
console's. Handlers without an operation id (the price preview) change nothing and are
not recorded, nor is an answer its handler marked ``unchanged`` (a confirmation step).
"""

from __future__ import annotations

from typing import Any, cast

from litestar import Request
from litestar.types import HTTPScope, Message, Receive, Scope, Send

from app.operators.audit import CHANGES, RECORDED_ERRORS, AuditMiddleware

_UNCHANGED_KEY = "laddnat_console_unchanged"


def unchanged(request: Request[Any, Any, Any]) -> None:
    """This answer changed nothing (a confirmation step, a form shown again): not audited."""
    request.state[_UNCHANGED_KEY] = True


def _done(scope: Scope, status: int) -> bool:
    if scope.get("state", {}).get(_UNCHANGED_KEY):
        return False
    # As the API: 2xx, and the 502/504 of a command the charger may have acted on; plus the
    # 303 a form that worked answers with.
    return 200 <= status < 300 or status == 303 or status in RECORDED_ERRORS


class ConsoleAuditMiddleware(AuditMiddleware):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = scope.get("route_handler")
        named = isinstance(getattr(handler, "operation_id", None), str)
        if scope["type"] != "http" or scope["method"] not in CHANGES or not named:  # type: ignore[typeddict-item]
            await self.app(scope, receive, send)
            return
        http_scope = cast("HTTPScope", scope)

        async def send_recorded(message: Message) -> None:
            if message["type"] == "http.response.start" and _done(scope, message["status"]):
                await self._record(http_scope, message["status"])
            await send(message)

        await self.app(scope, receive, send_recorded)
