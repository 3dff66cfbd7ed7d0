"""HTTP (driver app): start a paid session, watch it live, stop it, its history (receipts:
receipt_controllers.py).

Every route takes the signed-in user and looks the session up by id *and* owner: another
driver's session is a 404 ``session.not_found``, never their data.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

import msgspec
from litestar import Controller, WebSocket, get, post, websocket
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.exceptions import WebSocketDisconnect
from litestar.params import FromPath
from litestar.response import ServerSentEvent
from sqlalchemy.ext.asyncio import AsyncSession

from app.billing.errors import NoTariff, StartFailed
from app.chargers.errors import ChargerCallError, ChargerOffline, ChargerTimeout, CommandsUnavailable
from app.core.auth import AUTH_PROBLEMS, BEARER_SECURITY, requires_user
from app.core.errors import DomainError, InvalidInput
from app.core.http import PageParams, problems
from app.driver_app.live import LiveFeed
from app.driver_app.sessions import DriverSessionService, SessionOut, SessionPageOut
from app.drivers.deps import signed_in_user
from app.drivers.errors import PaymentMethodNotFound
from app.drivers.models import User
from app.drivers.service import UserService
from app.sessions.errors import EvseUnavailable, SessionNotActive, SessionNotFound
from payments.errors import PaymentDeclined, PaymentsNotConfigured, ProviderUnavailable


class StartSessionIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    evse_id: Annotated[str, msgspec.Meta(min_length=1, max_length=48, description="eMI3 EVSE ID, e.g. SE*LAD*E0001*1")]
    # A saved card (GET /api/v1/me/payment-methods). Absent: the hold waits for the app to
    # confirm it with the PSP's SDK (the session carries the client secret / session data).
    payment_method_id: str | None = None


def provide_driver_sessions(db: NamedDependency[AsyncSession], state: State) -> DriverSessionService:
    return DriverSessionService(db, state.bus, state.providers, state.settings)


START_PROBLEMS = (
    *AUTH_PROBLEMS,
    EvseUnavailable,
    PaymentMethodNotFound,
    NoTariff,
    PaymentDeclined,
    PaymentsNotConfigured,
    ProviderUnavailable,
    StartFailed,
    InvalidInput,
)


class DriverSessionController(Controller):
    path = "/api/v1/sessions"
    tags = ("sessions (driver)",)
    guards = [requires_user]  # noqa: RUF012 (read once by Litestar)
    security = BEARER_SECURITY
    dependencies = {"sessions": Provide(provide_driver_sessions, sync_to_thread=False)}  # noqa: RUF012

    @post(
        "/",
        operation_id="StartSession",
        summary="Place the hold and start charging on an EVSE",
        status_code=201,
        responses=problems(*START_PROBLEMS),
    )
    async def start(
        self,
        data: StartSessionIn,
        sessions: NamedDependency[DriverSessionService],
        current_user: NamedDependency[User],
        db: NamedDependency[AsyncSession],
        state: State,
    ) -> SessionOut:
        card = None
        if data.payment_method_id is not None:
            users = UserService(db, providers=state.providers)
            card = await users.saved_card(current_user.id, data.payment_method_id)
            if card is None:
                raise PaymentMethodNotFound(field="paymentMethodId")
        return await sessions.start(current_user, data.evse_id, card)

    @get(
        "/",
        operation_id="ListSessions",
        summary="The driver's sessions, newest first",
        responses=problems(*AUTH_PROBLEMS),
    )
    async def history(
        self,
        page: NamedDependency[PageParams],
        sessions: NamedDependency[DriverSessionService],
        current_user: NamedDependency[User],
    ) -> SessionPageOut:
        items = await sessions.history(current_user, limit=page.limit, offset=page.offset)
        return SessionPageOut(items=items, limit=page.limit, offset=page.offset)

    @get(
        "/{session_id:uuid}",
        operation_id="GetSession",
        summary="One of the driver's sessions",
        responses=problems(*AUTH_PROBLEMS, SessionNotFound),
    )
    async def get_session(
        self,
        session_id: FromPath[uuid.UUID],
        sessions: NamedDependency[DriverSessionService],
        current_user: NamedDependency[User],
    ) -> SessionOut:
        return await sessions.get(current_user, session_id)

    @post(
        "/{session_id:uuid}/stop",
        operation_id="StopSession",
        summary="Stop charging (a remote stop to the charger)",
        status_code=200,
        responses=problems(
            *AUTH_PROBLEMS,
            SessionNotFound,
            SessionNotActive,
            ChargerOffline,
            CommandsUnavailable,
            ChargerTimeout,
            ChargerCallError,
        ),
    )
    async def stop(
        self,
        session_id: FromPath[uuid.UUID],
        sessions: NamedDependency[DriverSessionService],
        current_user: NamedDependency[User],
    ) -> SessionOut:
        return await sessions.stop(current_user, session_id)

    @get(
        "/{session_id:uuid}/events",
        operation_id="StreamSession",
        summary="Server-sent events: a snapshot after every change, charger faults as they happen",
        media_type="text/event-stream",
        responses=problems(*AUTH_PROBLEMS, SessionNotFound),
    )
    async def events(
        self, session_id: FromPath[uuid.UUID], current_user: NamedDependency[User], state: State
    ) -> ServerSentEvent:
        feed = _feed(state, current_user, session_id)
        first = await feed.first()  # 404 before the stream starts

        async def stream() -> AsyncIterator[str]:
            async for message in feed.messages(first):
                yield msgspec.json.encode(message).decode()

        return ServerSentEvent(stream())


@websocket("/api/v1/sessions/{session_id:uuid}/live", guards=[requires_user])
async def live_session(socket: WebSocket[Any, Any, Any], session_id: uuid.UUID) -> None:
    """The same feed over a WebSocket (JSON text messages); closes with 4404 for a session
    that is not the driver's, 1000 when the session is over."""
    driver = await signed_in_user(socket)
    feed = _feed(socket.app.state, driver, session_id)
    await socket.accept()
    try:
        first = await feed.first()
    except DomainError as err:
        await socket.close(code=4404 if err.status == 404 else 4400, reason=err.code)
        return
    try:
        async for message in feed.messages(first):
            await socket.send_json(message)
    except WebSocketDisconnect:
        return
    await socket.close(code=1000)


def _feed(state: State, driver: User, session_id: uuid.UUID) -> LiveFeed:
    return LiveFeed(
        state.live_hub,
        state.sessionmaker,
        lambda db: DriverSessionService(db, state.bus, state.providers, state.settings),
        driver,
        session_id,
    )
