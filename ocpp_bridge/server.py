"""The OCPP WebSocket server: handshake, subprotocol, charger authentication, routing.

Charger authentication is OCPP security profile 1/2: HTTP Basic with the identity as
user name, checked in ``process_request`` so a bad charger never gets a socket. TLS
(profile 2) when a certificate and key are configured.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import http
import logging
import socket
import ssl
from collections.abc import Callable, Sequence
from datetime import datetime
from urllib.parse import unquote

import msgspec
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from websockets.datastructures import Headers
from websockets.exceptions import NegotiationError
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from app.chargers.commands import CommandReply, CommandRequest, subject_for
from app.chargers.credentials import HashUpgrades
from app.chargers.errors import ChargerAuthFailed, ChargerNotFound
from app.chargers.events import ChargerCredentialsChanged
from app.chargers.service import ChargerRef, check_credentials
from app.core.bus import Bus, Event, RequestHandler
from app.core.database import utcnow
from app.core.errors import DomainError
from app.core.http import problem_type
from app.core.metrics import CONNECTED_CHARGERS, DB_ERRORS, HANDSHAKES, Access, metrics_access, render
from app.core.ops import check_ready
from app.core.settings import OcppSettings
from app.sessions.foreign_tokens import ForeignTokens
from ocpp_bridge.commands import answer_status, build_call
from ocpp_bridge.connection import CallFailed, Connection, Domain, Router, spawn
from ocpp_bridge.credentials import CredentialLookup
from ocpp_bridge.protocol import OcppError, Version
from ocpp_bridge.v16.handlers import router as v16_router
from ocpp_bridge.v201.handlers import router as v201_router
from ocpp_bridge.websocket import SocketOptions, WebSocket, WebSocketServer

log = logging.getLogger("laddnat.ocpp")

PATH_PREFIX = "/ocpp/"
ACCEPT_BURST = 1024
AUTH_CONCURRENCY = 8
LISTEN_BACKLOG = 4096
# Listening sockets on the one port (SO_REUSEPORT): the kernel caps each accept queue at
# net.core.somaxconn (4096 here), and a storm of 19,000 first contacts at once overflows
# one; the dropped SYNs come back only after 1, 3, 7, 15, 31 s. Eight queues hold it.
LISTENERS = 8 if hasattr(socket, "SO_REUSEPORT") else 1
# Preference when a charger offers both.
SUPPORTED = (Subprotocol(Version.V201.value), Subprotocol(Version.V16.value))
ROUTERS: dict[Version, Router] = {Version.V16: v16_router, Version.V201: v201_router}


def _plain(status: http.HTTPStatus, body: str, **headers: str) -> Response:
    h = Headers({"Content-Type": "text/plain; charset=utf-8", "Connection": "close", **headers})
    return Response(status.value, status.phrase, h, body.encode())


def _listening_sockets(host: str, port: int, copies: int) -> list[socket.socket]:
    """``copies`` bound sockets per address of ``host`` on one port (the first bind picks
    it when ``port`` is 0), sharing it with SO_REUSEPORT when there is more than one."""
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        ):
            if copies > 1 and port != 0:
                # SO_REUSEPORT would let this process join another bridge's port and split
                # its chargers silently: a plain bind first fails as it always did.
                with socket.socket(family, kind, proto) as probe:
                    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    if family == socket.AF_INET6:
                        probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                    probe.bind(address)
            for _ in range(copies):
                sock = socket.socket(family, kind, proto)
                sockets.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if copies > 1:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind((*address[:1], port, *address[2:]))
                port = sock.getsockname()[1]
                sock.setblocking(False)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


class Bridge:
    """Holds the open sockets of this process; everything else lives in the database."""

    def __init__(
        self,
        settings: OcppSettings,
        maker: async_sessionmaker[AsyncSession],
        bus: Bus,
        *,
        clock: Callable[[], datetime] = utcnow,
        foreign_tokens: ForeignTokens | None = None,
    ) -> None:
        self.settings = settings
        self.domain = Domain(maker, bus, settings, clock=clock, foreign_tokens=foreign_tokens)
        self.connections: dict[str, Connection] = {}
        self.credentials = self.domain.credentials
        self._auth_slots = asyncio.Semaphore(AUTH_CONCURRENCY)
        self.lookup = CredentialLookup(maker, bus)
        self.hash_upgrades = HashUpgrades(self.domain.writer)
        # For /readyz: the engine the sessions are bound to, and the bus.
        self._engine: AsyncEngine = maker.kw["bind"]
        self._bus = bus
        bus.subscribe(ChargerCredentialsChanged.subject, self._forget_credentials)
        self._server = WebSocketServer(
            self._open,
            self._handle,
            SocketOptions(
                subprotocols=SUPPORTED,
                select_subprotocol=self._select_subprotocol,
                # Memory per socket is what bounds chargers per process: no compression
                # contexts, small queues. OCPP frames are small and chatty. Chargers ping us
                # (WebSocketPingInterval) and heartbeat: no keepalive of our own.
                max_size=settings.max_frame_bytes,
                max_queue=4,
                write_limit=16 * 1024,
                open_timeout_s=60.0,
                close_timeout_s=5.0,
                server_header="Laddnat-OCPP",
            ),
        )

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        ssl_context = None
        if self.settings.tls_cert_file is not None:
            ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ssl_context.minimum_version = ssl.TLSVersion.TLSv1_2
            ssl_context.load_cert_chain(self.settings.tls_cert_file, self.settings.tls_key_file)
        await self.lookup.warm_up()
        for sock in _listening_sockets(self.settings.host, self.settings.port, LISTENERS):
            # asyncio accepts up to `backlog` sockets per loop turn: keep the bursts small so
            # closing dead sockets and finishing handshakes keep pace in a storm...
            await self._server.listen(sock, backlog=ACCEPT_BURST, ssl_context=ssl_context)
            # ...but let the kernel queue a whole storm's SYNs (listen() again only resizes
            # the queue); with asyncio's default of 100 it drops them and clients wait for
            # SYN retransmits.
            sock.listen(LISTEN_BACKLOG)

    @property
    def port(self) -> int:
        return int(self._server.listening[0].getsockname()[1])

    async def close(self) -> None:
        await self._server.close()
        await self.domain.writer.close()

    async def _forget_credentials(self, event: Event) -> None:
        assert isinstance(event, ChargerCredentialsChanged)
        self.credentials.forget(event.identity)

    # -- handshake -------------------------------------------------------------------

    def _select_subprotocol(self, offered: Sequence[Subprotocol]) -> Subprotocol | None:
        if not offered:
            return None  # no offer: a 1.6 charger from before subprotocols were required
        for proto in SUPPORTED:
            if proto in offered:
                return proto
        HANDSHAKES.labels("unsupported_subprotocol").inc()
        raise NegotiationError(f"supported subprotocols: {', '.join(SUPPORTED)}")

    async def _open(self, request: Request) -> Response | ChargerRef:
        """The upgrade's answer: the charger it authenticates, or the HTTP response that
        refuses it (or answers /metrics, /healthz, /readyz)."""
        path = request.path.split("?", 1)[0]
        if path == "/metrics":
            access = metrics_access(self.settings.metrics, request.headers.get("Authorization"))
            if access is Access.UNAUTHORIZED:
                return _plain(http.HTTPStatus.UNAUTHORIZED, "send Authorization: Bearer <LADDNAT_METRICS_TOKEN>\n")
            if access is Access.HIDDEN:
                return _plain(http.HTTPStatus.NOT_FOUND, "OCPP endpoint is /ocpp/{identity}\n")
            body, content_type = render()
            return Response(200, "OK", Headers({"Content-Type": content_type}), body)
        if path == "/healthz":
            return _plain(http.HTTPStatus.OK, "ok\n")
        if path == "/readyz":
            return await self._readiness()
        if not path.startswith(PATH_PREFIX) or "/" in path[len(PATH_PREFIX) :]:
            HANDSHAKES.labels("bad_path").inc()
            return _plain(http.HTTPStatus.NOT_FOUND, "OCPP endpoint is /ocpp/{identity}\n")
        identity = unquote(path[len(PATH_PREFIX) :])
        creds = basic_credentials(request.headers.get("Authorization"))
        password = None
        if creds is not None:
            user, password = creds
            if user != identity:
                password = None  # a charger may only speak for itself
        cached = self.credentials.get(identity, password)
        if cached is not None:
            return cached
        try:
            found = await self.lookup.get(identity)
            if found is not None and found.slow:
                # An older argon2id hash: bounded, as it runs in a small thread pool and a
                # storm would otherwise queue thousands at once. Current hashes take
                # microseconds and never wait here.
                async with self._auth_slots:
                    charger = await check_credentials(found, password)
            else:
                charger = await check_credentials(found, password)
        except ChargerNotFound:
            HANDSHAKES.labels("unknown_charger").inc()
            log.info("handshake refused: unknown charger", extra={"identity": identity[:48], "status": 404})
            return _plain(http.HTTPStatus.NOT_FOUND, "unknown charger\n")
        except ChargerAuthFailed as err:
            HANDSHAKES.labels("bad_credentials").inc()
            log.info(f"handshake refused: {err.detail}", extra={"identity": identity, "status": 401})
            return _plain(
                http.HTTPStatus.UNAUTHORIZED,
                "charger credentials required\n",
                **{"WWW-Authenticate": 'Basic realm="Laddnat OCPP", charset="UTF-8"'},
            )
        except SQLAlchemyError:
            DB_ERRORS.labels("handshake").inc()
            log.exception("handshake: database error", extra={"identity": identity})
            return _plain(http.HTTPStatus.SERVICE_UNAVAILABLE, "try again later\n", **{"Retry-After": "10"})
        if found is not None and password is not None:  # always, once check_credentials passed
            await self.hash_upgrades.after_login(found, password)
            self.credentials.put(charger, password)
        return charger

    async def _readiness(self) -> Response:
        """/readyz: the database and the bus answer (app/core/ops.py); otherwise the API's
        503 problem, code and all, so one probe reads every process alike."""
        try:
            await check_ready(self._engine, self._bus)
        except DomainError as err:
            problem = {"type": problem_type(err.code), "title": err.title, "status": err.status}
            body = msgspec.json.encode(problem | {"detail": err.detail, "code": err.code})
            h = Headers({"Content-Type": "application/problem+json", "Connection": "close", "Retry-After": "5"})
            return Response(err.status, http.HTTPStatus(err.status).phrase, h, body)
        return _plain(http.HTTPStatus.OK, "ok\n")

    # -- one connection --------------------------------------------------------------

    async def _handle(self, ws: WebSocket[ChargerRef], charger: ChargerRef) -> None:
        version = Version(ws.subprotocol) if ws.subprotocol else Version.V16
        conn = Connection(ws, charger, version, self.domain, ROUTERS[version])
        HANDSHAKES.labels("accepted").inc()
        previous = self.connections.get(charger.identity)
        self.connections[charger.identity] = conn
        if previous is not None:
            # The charger reconnected before we noticed the old socket died: the new
            # one wins, the old one is closed cleanly and stops counting.
            log.info("replacing previous connection", extra={"identity": charger.identity})
            spawn(previous.close(1000, "replaced by a new connection"))
        self.domain.bus.serve(subject_for(charger.identity), self._command_handler(charger.identity))
        CONNECTED_CHARGERS.labels(version.short).inc()
        log.info("charger connected", extra={"identity": charger.identity, "ocpp_version": version.short})
        try:
            await self._notify_connected(conn)
            await conn.run()
        finally:
            CONNECTED_CHARGERS.labels(version.short).dec()
            replaced = self.connections.get(charger.identity) is not conn
            if not replaced:
                del self.connections[charger.identity]
                self.domain.bus.unserve(subject_for(charger.identity))
            reason = f"{ws.close_code} {ws.close_reason}".strip() if ws.close_code else "connection lost"
            log.info("charger disconnected", extra={"identity": charger.identity, "code": reason})
            await self._notify_disconnected(conn, reason, replaced)

    async def _notify_connected(self, conn: Connection) -> None:
        try:
            await self.domain.telemetry.connected(conn.charger, conn.version.short)
        except SQLAlchemyError:
            DB_ERRORS.labels("connect").inc()
            log.exception("could not record connect", extra={"identity": conn.identity})

    async def _notify_disconnected(self, conn: Connection, reason: str, replaced: bool) -> None:
        try:
            await self.domain.telemetry.disconnected(conn.charger, reason, still_connected=replaced)
        except SQLAlchemyError:
            DB_ERRORS.labels("disconnect").inc()
            log.exception("could not record disconnect", extra={"identity": conn.identity})

    def _command_handler(self, identity: str) -> RequestHandler:
        async def handle(raw: bytes) -> bytes:
            conn = self.connections.get(identity)
            if conn is None:
                reply = CommandReply(outcome="offline", error_description="the charger disconnected")
            else:
                reply = await run_command(conn, msgspec.json.decode(raw, type=CommandRequest))
            return msgspec.json.encode(reply)

        return handle

    def connection(self, identity: str) -> Connection | None:
        return self.connections.get(identity)


async def run_command(conn: Connection, request: CommandRequest) -> CommandReply:
    """One command on one charger: validated for its version, sent, answered as data."""
    try:
        action, payload = build_call(conn.version, request)
        answer = await conn.call(action, payload, request.timeout_s)
    except LookupError as err:
        return CommandReply(outcome="unsupported", error_description=str(err).strip("'\""))
    except msgspec.ValidationError as err:
        return CommandReply(outcome="invalid", error_description=str(err))
    except OcppError as err:
        field = err.details.get("field")
        return CommandReply(outcome="invalid", error_code=err.code, error_description=err.description, field=field)
    except CallFailed as err:
        return CommandReply(outcome="call_error", error_code=err.code, error_description=err.description)
    except TimeoutError:
        return CommandReply(outcome="timeout", error_description=f"no answer within {request.timeout_s:g} s")
    except ConnectionError as err:
        return CommandReply(outcome="offline", error_description=str(err))
    log.info(
        "command answered",
        extra={"identity": conn.identity, "action": action, "status": answer_status(action, answer)},
    )
    return CommandReply(outcome="answered", status=answer_status(action, answer), data=answer)


def create_bridge(
    settings: OcppSettings,
    maker: async_sessionmaker[AsyncSession],
    bus: Bus,
    *,
    clock: Callable[[], datetime] = utcnow,
    foreign_tokens: ForeignTokens | None = None,
) -> Bridge:
    """``foreign_tokens``: who answers for roaming partners' tokens (app/sessions/foreign_tokens.py)."""
    return Bridge(settings, maker, bus, clock=clock, foreign_tokens=foreign_tokens)
