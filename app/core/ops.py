"""What every process answers its operator: alive (/healthz), ready (/readyz), metrics (/metrics).

The API serves these beside its routes, ``laddnat worker`` on a small listener of its own
(``create_ops_app``), the bridge on its OCPP port (ocpp_bridge/server.py, same checks).
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

import msgspec
from litestar import Litestar, Request, Response, get
from litestar.datastructures import State
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.bus import Bus
from app.core.database import ping
from app.core.errors import BusUnreachable, DatabaseUnavailable, NotFound, Unauthenticated
from app.core.http import EXCEPTION_HANDLERS, problems
from app.core.metrics import Access, metrics_access, render
from app.core.settings import Settings

# Readiness answers fast either way: a load balancer waiting on us is worse than a 503.
READY_TIMEOUT_S = 5.0


class StatusOut(msgspec.Struct, kw_only=True):
    status: Literal["ok"] = "ok"


async def check_ready(engine: AsyncEngine, bus: Bus, *, timeout_s: float = READY_TIMEOUT_S) -> None:
    """Return if the database answers a SELECT 1 and the bus its ping, both within
    ``timeout_s`` (asked at once); raise DatabaseUnavailable or BusUnreachable otherwise."""

    async def bounded(check: Any) -> None:
        async with asyncio.timeout(timeout_s):
            await check

    db_failure, bus_failure = await asyncio.gather(bounded(ping(engine)), bounded(bus.ping()), return_exceptions=True)
    # Whatever stops the check (a refused connection, a timeout, a closed bus) means not ready.
    if isinstance(db_failure, BaseException):
        raise DatabaseUnavailable(f"the database did not answer ({type(db_failure).__name__})") from db_failure
    if isinstance(bus_failure, BaseException):
        raise BusUnreachable(f"the bus did not answer ({type(bus_failure).__name__})") from bus_failure


@get("/healthz", operation_id="Healthz", tags=["ops"], summary="The process is alive")
async def healthz() -> StatusOut:
    return StatusOut()


@get(
    "/readyz",
    operation_id="Readyz",
    tags=["ops"],
    summary="The database and the message bus answer",
    responses=problems(DatabaseUnavailable, BusUnreachable),
)
async def readyz(state: State) -> StatusOut:
    await check_ready(state.engine, state.bus)
    return StatusOut()


@get(
    "/metrics",
    operation_id="Metrics",
    tags=["ops"],
    summary="Prometheus metrics",
    description=(
        "For `Authorization: Bearer <LADDNAT_METRICS_TOKEN>` only; without that setting not served here "
        "(404): LADDNAT_METRICS_BIND gives the metrics a listener of their own. "
        "`laddnat_process_info{role,node,event_loop}` names the process."
    ),
    responses=problems(Unauthenticated, NotFound),
    media_type="text/plain; version=0.0.4; charset=utf-8",
)
async def metrics(request: Request[Any, Any, Any], state: State) -> Response[bytes]:
    access = metrics_access(state.settings.metrics, request.headers.get("authorization"))
    if access is Access.HIDDEN:
        raise NotFound("Not Found")  # what any path that does not exist answers
    if access is Access.UNAUTHORIZED:
        raise Unauthenticated("send Authorization: Bearer <LADDNAT_METRICS_TOKEN>")
    body, content_type = render()
    return Response(body, media_type=content_type)


OPS_HANDLERS = (healthz, readyz, metrics)


def create_ops_app(settings: Settings, engine: AsyncEngine, bus: Bus) -> Litestar:
    """The three endpoints alone, for a process with no API of its own (``laddnat worker``).
    The engine and bus are the caller's: started, checked here, closed by the caller."""
    return Litestar(
        route_handlers=list(OPS_HANDLERS),
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=None,
        state=State({"settings": settings, "engine": engine, "bus": bus}),
        logging_config=None,
    )
