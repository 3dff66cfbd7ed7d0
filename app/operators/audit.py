"""The audit log: every successful change made through the operator and platform APIs.

Recorded in one place, ``AuditMiddleware`` on those routers, rather than by each handler:
a POST, PUT, PATCH or DELETE answered 2xx (or 502/504: a command the charger may have
acted on without a good answer) becomes an ``AuditEntry`` naming the caller (the
one the guards resolved), its company, the handler's operation id, the method, path,
status and the path parameters. Never a body: bodies carry passwords, keys and secrets.
The entry is written before the response starts, so a client that has its answer also
finds the entry.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

from litestar.connection import ASGIConnection
from litestar.types import ASGIApp, HTTPScope, Message, Receive, Scope, Send
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Caller, resolved_caller
from app.core.database import utcnow
from app.operators.models import AuditEntry

log = logging.getLogger("laddnat.audit")

CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Answers after which the change may have happened: success, and a command whose charger
# answered with an error (502) or never answered (504): it may have acted all the same.
RECORDED_ERRORS = frozenset({502, 504})
MAX_PATH_LENGTH = 500
MAX_DETAIL_LENGTH = 200


def entry_for(scope: HTTPScope, caller: Caller, status: int, at: datetime) -> AuditEntry:
    handler = scope.get("route_handler")
    operation_id = getattr(handler, "operation_id", None)
    action = operation_id if isinstance(operation_id, str) else getattr(handler, "handler_name", "unknown")
    params = scope.get("path_params") or {}
    return AuditEntry(
        operator_id=caller.tenant_id,
        actor_type=caller.kind,
        actor_id=caller.id,
        actor_name=caller.name[:254],
        action=action[:100],
        method=scope["method"],
        path=scope["path"][:MAX_PATH_LENGTH],
        status_code=status,
        details={str(k): str(v)[:MAX_DETAIL_LENGTH] for k, v in params.items()},
        at=at,
    )


class AuditMiddleware:
    """ASGI middleware for the operator and platform routers (Litestar builds one per route).
    A subclass says otherwise which requests are changes (``audits``) and which answers mean
    the change may have happened (``records``)."""

    def __init__(self, app: ASGIApp, clock: Callable[[], datetime] = utcnow) -> None:
        self.app = app
        self.clock = clock

    def audits(self, scope: Scope) -> bool:
        return scope["type"] == "http" and scope["method"] in CHANGES  # type: ignore[typeddict-item]

    def records(self, scope: Scope, status: int) -> bool:
        return 200 <= status < 300 or status in RECORDED_ERRORS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.audits(scope):
            await self.app(scope, receive, send)
            return
        http_scope = cast("HTTPScope", scope)

        async def send_recorded(message: Message) -> None:
            if message["type"] == "http.response.start" and self.records(scope, message["status"]):
                await self._record(http_scope, message["status"])
            await send(message)

        await self.app(scope, receive, send_recorded)

    async def _record(self, scope: HTTPScope, status: int) -> None:
        connection: ASGIConnection[Any, Any, Any, Any] = ASGIConnection(scope)
        caller = resolved_caller(connection)
        if caller is None:  # every audited route is guarded; a 2xx without a caller is a bug
            log.error("no caller for an audited change", extra={"path": scope.get("path")})
            return
        try:
            async with scope["app"].state.sessionmaker() as db:
                db.add(entry_for(scope, caller, status, self.clock()))
                await db.commit()
        except Exception:  # the change is done; losing its entry must not hide the answer
            log.exception("could not write the audit entry", extra={"path": scope.get("path")})


class AuditLog:
    """One company's entries, newest first."""

    def __init__(self, db: AsyncSession, tenant_id: uuid.UUID) -> None:
        self.db = db
        self.tenant_id = tenant_id

    async def list(
        self,
        *,
        limit: int,
        offset: int,
        action: str | None = None,
        actor_id: uuid.UUID | None = None,
        since: datetime | None = None,
    ) -> tuple[list[AuditEntry], int]:
        where = [AuditEntry.operator_id == self.tenant_id]
        if action is not None:
            where.append(AuditEntry.action == action)
        if actor_id is not None:
            where.append(AuditEntry.actor_id == actor_id)
        if since is not None:
            where.append(AuditEntry.at >= since)
        rows = await self.db.scalars(
            select(AuditEntry).where(*where).order_by(AuditEntry.at.desc(), AuditEntry.id).limit(limit).offset(offset)
        )
        total = await self.db.scalar(select(func.count()).select_from(AuditEntry).where(*where))
        return list(rows), int(total or 0)
