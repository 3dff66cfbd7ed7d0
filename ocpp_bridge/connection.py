"""One charger's socket: frames in, replies out, and our own CALLs to it.

Messages from one charger are handled one at a time, in order (OCPP allows one
outstanding CALL per direction); each connection is its own task, so a slow or
flooding charger only ever waits on itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.chargers.command_service import BootConfigurationRecorder
from app.chargers.service import ChargerRef, ChargerService
from app.chargers.telemetry import ChargerTelemetry
from app.core.batching import GroupCommit
from app.core.bus import Bus
from app.core.database import utcnow
from app.core.errors import DomainError, InvalidInput
from app.core.metrics import DB_ERRORS, count_message
from app.core.settings import OcppSettings
from app.sessions.foreign_tokens import ForeignTokens
from app.sessions.metering import MeterRecorder
from app.sessions.service import TransactionService
from ocpp_bridge.credentials import CredentialCache
from ocpp_bridge.protocol import (
    CALL,
    CALLERROR,
    CALLRESULT,
    OcppError,
    Version,
    call,
    call_error,
    call_result,
    frame_message_id,
    known_actions,
    parse_frame,
    validate,
)
from ocpp_bridge.websocket import SocketClosed, WebSocket

log = logging.getLogger("laddnat.ocpp")

Handler = Callable[["Connection", dict[str, Any]], Awaitable[dict[str, Any]]]

# The one table from domain errors to the CALLERROR code the OCPP specs name for them
# (2.0.1 spelling; OcppError adapts it to 1.6). A class takes its nearest listed ancestor.
CALLERROR_CODES: dict[type[DomainError], str] = {
    InvalidInput: "PropertyConstraintViolation",
    DomainError: "GenericError",
}


def domain_call_error(err: DomainError) -> OcppError:
    """The CALLERROR for a domain error; a GenericError carries our own code in its details,
    since the OCPP code alone says nothing of what went wrong."""
    code = next(CALLERROR_CODES[cls] for cls in type(err).__mro__ if cls in CALLERROR_CODES)
    return OcppError(code, err.detail, {"code": err.code} if code == "GenericError" else None)


# Strong references to fire-and-forget tasks, so the loop can't drop them half-way.
_background: set[asyncio.Task[None]] = set()


def spawn(coro: Coroutine[Any, Any, None]) -> None:
    task = asyncio.create_task(coro)
    _background.add(task)
    task.add_done_callback(_background.discard)


class Router:
    """Action name -> handler, one per OCPP version."""

    def __init__(self, version: Version) -> None:
        self.version = version
        self.handlers: dict[str, Handler] = {}

    def on(self, action: str) -> Callable[[Handler], Handler]:
        if action not in known_actions(self.version):
            raise ValueError(f"{action} is not an OCPP {self.version.short} action")

        def register(fn: Handler) -> Handler:
            self.handlers[action] = fn
            return fn

        return register


class Domain:
    """What every handler needs: the services, database sessions, the bus, the settings.

    The hot path (heartbeats, statuses, meter values, boots, connects) goes through the
    group-commit writer; transactions and everything rarer through plain services.
    """

    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        bus: Bus,
        settings: OcppSettings,
        *,
        clock: Callable[[], datetime] = utcnow,
        foreign_tokens: ForeignTokens | None = None,
    ) -> None:
        self.maker = maker
        self.bus = bus
        self.settings = settings
        # Roaming partners' tokens (the entry point wires app.roaming's answerer in).
        self.foreign_tokens = foreign_tokens
        dialect = maker.kw["bind"].dialect.name
        self.writer = GroupCommit(maker, workers=1 if dialect == "sqlite" else 3)
        # ``clock``: when chargers were seen, connected, booted (tests share one with the health monitor).
        self.telemetry = ChargerTelemetry(
            self.writer, bus, dialect, heartbeat_interval_s=settings.heartbeat_interval_s, clock=clock
        )
        self.meters = MeterRecorder(self.writer, bus, dialect)
        self.boot_configurations = BootConfigurationRecorder(self.writer)
        self.credentials = CredentialCache()

    def chargers(self, db: AsyncSession) -> ChargerService:
        return ChargerService(db, self.bus)

    def transactions(self, db: AsyncSession) -> TransactionService:
        return TransactionService(db, self.bus, foreign_tokens=self.foreign_tokens)


class CallFailed(Exception):
    """The charger answered our CALL with a CALLERROR."""

    def __init__(self, code: str, description: str, details: Any) -> None:
        super().__init__(f"{code}: {description}")
        self.code, self.description, self.details = code, description, details


class Connection:
    __slots__ = (
        "_after",
        "_allowance",
        "_call_lock",
        "_last_check",
        "_pending",
        "charger",
        "domain",
        "router",
        "version",
        "ws",
    )

    def __init__(
        self, ws: WebSocket[ChargerRef], charger: ChargerRef, version: Version, domain: Domain, router: Router
    ) -> None:
        self.ws = ws
        self.charger = charger
        self.version = version
        self.domain = domain
        self.router = router
        self._pending: tuple[str, str, asyncio.Future[dict[str, Any]]] | None = None
        self._call_lock: asyncio.Lock | None = None
        self._after: list[Callable[[], Awaitable[None]]] | None = None
        self._allowance = domain.settings.max_calls_per_s
        self._last_check = time.monotonic()

    @property
    def identity(self) -> str:
        return self.charger.identity

    async def run(self) -> None:
        """Serve until the socket closes."""
        try:
            async for raw in self.ws:
                await self._throttle()
                await self.on_frame(raw)
        finally:
            if self._pending is not None and not self._pending[2].done():
                self._pending[2].set_exception(ConnectionError("charger disconnected"))

    def after(self, fn: Callable[[], Awaitable[None]]) -> None:
        """Run ``fn`` once the reply to the current CALL is sent (never before)."""
        if self._after is None:
            self._after = []
        self._after.append(fn)

    async def on_frame(self, raw: str | bytes) -> None:
        try:
            frame = parse_frame(raw)
        except OcppError as err:
            message_id = frame_message_id(err)
            count_message("invalid_frame", err.code)
            log.info("bad frame", extra={"identity": self.identity, "message_id": message_id, "code": err.code})
            await self._send(call_error(message_id, err, self.version))
            return
        if frame.kind == CALL:
            await self._on_call(frame.message_id, frame.action, frame.payload)
        elif frame.kind == CALLRESULT:
            self._resolve(frame.message_id, result=frame.payload)
        elif frame.kind == CALLERROR:
            self._resolve(
                frame.message_id,
                error=CallFailed(frame.error_code, frame.error_description, frame.error_details),
            )

    async def _on_call(self, message_id: str, action: str, payload: dict[str, Any]) -> None:
        started = time.perf_counter()
        handler = self.router.handlers.get(action)
        metric_action = action if action in known_actions(self.version) else "unknown"
        try:
            if handler is None:
                if action in known_actions(self.version):
                    raise OcppError("NotSupported", f"{action} is not supported by this CSMS")
                raise OcppError("NotImplemented", f"unknown action {action[:50]!r}")
            validate(self.version, action, payload)
            reply = await handler(self, payload)
            if self.domain.settings.validate_replies:
                try:
                    validate(self.version, action, reply, response=True)
                except OcppError as err:
                    log.error(
                        "our reply breaks the schema",
                        extra={"identity": self.identity, "message_id": message_id, "action": action},
                    )
                    raise OcppError("InternalError", "the CSMS built an invalid reply") from err
            outcome = "ok"
            text = call_result(message_id, reply)
        except OcppError as err:
            outcome, text = err.code, call_error(message_id, err, self.version)
        except DomainError as err:
            error = domain_call_error(err)
            outcome, text = error.code, call_error(message_id, error, self.version)
        except SQLAlchemyError:
            DB_ERRORS.labels("ocpp").inc()
            log.exception(
                "database error", extra={"identity": self.identity, "message_id": message_id, "action": action}
            )
            outcome = "InternalError"
            text = call_error(message_id, OcppError(outcome, "storage failed; nothing was recorded"), self.version)
        except Exception:
            log.exception(
                "handler failed", extra={"identity": self.identity, "message_id": message_id, "action": action}
            )
            outcome = "InternalError"
            text = call_error(message_id, OcppError(outcome, "unexpected error; nothing was recorded"), self.version)
        await self._send(text)
        count_message(metric_action, outcome, time.perf_counter() - started)
        if outcome != "ok":
            log.info(
                "call rejected",
                extra={"identity": self.identity, "message_id": message_id, "action": metric_action, "code": outcome},
            )
        if self._after:
            after, self._after = self._after, None
            for fn in after:
                spawn(self._run_after(fn))

    async def _run_after(self, fn: Callable[[], Awaitable[None]]) -> None:
        try:
            await fn()
        except Exception:
            log.exception("after-reply task failed", extra={"identity": self.identity})

    async def call(self, action: str, payload: dict[str, Any], timeout_s: float = 30.0) -> dict[str, Any]:
        """Send a CALL to the charger and wait for its answer (one outstanding at a time).

        Never await this inside a handler: the answer arrives on the same loop that
        runs the handler. Use ``after`` or a task.
        """
        validate(self.version, action, payload)
        if self._call_lock is None:
            self._call_lock = asyncio.Lock()
        async with self._call_lock:
            message_id = str(uuid.uuid4())
            future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
            self._pending = (message_id, action, future)
            try:
                await self._send(call(message_id, action, payload))
                return await asyncio.wait_for(future, timeout_s)
            finally:
                self._pending = None

    def _resolve(self, message_id: str, *, result: Any = None, error: Exception | None = None) -> None:
        if self._pending is None or self._pending[0] != message_id:
            log.info("answer to no pending call", extra={"identity": self.identity, "message_id": message_id})
            return
        _, action, future = self._pending
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
            return
        if not isinstance(result, dict):
            future.set_exception(CallFailed("FormatViolation", "CALLRESULT payload is not an object", {}))
            return
        try:
            validate(self.version, action, result, response=True)
        except OcppError as err:
            future.set_exception(CallFailed(err.code, err.description, err.details))
            return
        future.set_result(result)

    async def _send(self, text: str) -> None:
        try:
            await self.ws.send(text)
        except SocketClosed:
            pass

    async def _throttle(self) -> None:
        """Token bucket: a charger flooding us waits on itself, never on the others."""
        rate = self.domain.settings.max_calls_per_s
        now = time.monotonic()
        self._allowance = min(rate, self._allowance + (now - self._last_check) * rate)
        self._last_check = now
        if self._allowance < 1.0:
            await asyncio.sleep((1.0 - self._allowance) / rate)
            self._allowance = 0.0
            self._last_check = time.monotonic()
        else:
            self._allowance -= 1.0

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self.ws.close(code, reason)
