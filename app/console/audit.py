"""The console's changes in the tenant's audit log, as the operator API's are.

``AuditMiddleware`` (app/operators/audit.py) records an API change answered 2xx; a console
change answers a redirect (303) or a page (2xx, a refused form 4xx). This records those
whose handler names the API operation it performs (its ``operation_id``, e.g. UpdateTariff),
so the log reads the same whichever way the change came in; the entry's path is the
console's. Handlers without an operation id (the price preview) change nothing and are
not recorded, nor is an answer its handler marked ``unchanged`` (a confirmation step).
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.types import Scope

from app.operators.audit import AuditMiddleware

_UNCHANGED_KEY = "laddnat_console_unchanged"


def unchanged(request: Request[Any, Any, Any]) -> None:
    """This answer changed nothing (a confirmation step, a form shown again): not audited."""
    request.state[_UNCHANGED_KEY] = True


class ConsoleAuditMiddleware(AuditMiddleware):
    def audits(self, scope: Scope) -> bool:
        handler = scope.get("route_handler")
        return super().audits(scope) and isinstance(getattr(handler, "operation_id", None), str)

    def records(self, scope: Scope, status: int) -> bool:
        # As the API, plus the 303 a form that worked answers with; not a confirmation step.
        if scope.get("state", {}).get(_UNCHANGED_KEY):
            return False
        return status == 303 or super().records(scope, status)
