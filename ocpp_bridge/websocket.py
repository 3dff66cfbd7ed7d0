"""The bridge's WebSocket server: websockets' sans-I/O protocol on plain asyncio transports.

websockets does the protocol: parsing and checking the upgrade request, the 101, framing and
masking, ping and pong, the closing handshake, the size limit. This module does only the I/O
around it, and as little as it can per socket, because a bridge holds ~19,000 of them and a
node loss brings them all at once: one task per socket (its handshake, then its handler), a
timer only while it opens or closes, no keepalive. websockets' own asyncio server spent
~0.25 ms of CPU more per first contact on its tasks, futures and context managers, about half
of what the bridge spends on a contact in all (docs/benchmarks.md, "A leaner socket layer").

Its behaviour is websockets' own asyncio server's: the same answers to a bad upgrade, text
messages decoded (invalid UTF-8 closes with 1007), reading paused while ``max_queue``
messages wait, ``send`` waiting while the write buffer is over ``write_limit``, the handler's
end closing with 1000 (1011 if it failed), shutdown closing every socket with 1001.
"""

from __future__ import annotations

import asyncio
import http
import logging
import socket
import ssl
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar, cast

from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.typing import BytesLike, Subprotocol

log = logging.getLogger("laddnat.ocpp")
# websockets' own logger, given to every socket's protocol rather than looked up for each.
WEBSOCKETS_LOG = logging.getLogger("websockets.server")

T = TypeVar("T")
# Decides the upgrade: a Response refuses it (and is sent); anything else accepts it and is
# handed to the handler with the socket.
Opening = Callable[[Request], Awaitable["Response | T"]]
Handler = Callable[["WebSocket[T]", T], Awaitable[None]]
# Given the subprotocols the client offers; raising NegotiationError refuses with a 400.
SelectSubprotocol = Callable[[Sequence[Subprotocol]], "Subprotocol | None"]


class SocketClosed(ConnectionError):
    """The socket is closing or closed: nothing more can be sent on it."""


@dataclass(frozen=True)
class SocketOptions:
    subprotocols: Sequence[Subprotocol]
    select_subprotocol: SelectSubprotocol
    max_size: int  # bytes in one message, fragments together; larger closes with 1009
    max_queue: int = 4  # received messages waiting before reading pauses
    write_limit: int = 16 * 1024  # buffered bytes before ``send`` waits
    open_timeout_s: float = 60.0  # from TCP accept until the upgrade is answered
    close_timeout_s: float = 5.0  # for the other side's part of the closing handshake
    server_header: str = "Laddnat"


class WebSocket(asyncio.Protocol, Generic[T]):
    """One accepted socket: ``send`` text, ``async for`` the messages, ``close``."""

    __slots__ = (
        "_drained",
        "_fragments",
        "_lost",
        "_messages",
        "_reading_paused",
        "_text_fragments",
        "_timer",
        "_waiter",
        "_writing_paused",
        "protocol",
        "server",
        "subprotocol",
        "task",
        "transport",
    )

    def __init__(self, server: WebSocketServer[T]) -> None:
        self.server = server
        o = server.options
        self.protocol = ServerProtocol(
            subprotocols=o.subprotocols,
            select_subprotocol=server.select_subprotocol,
            max_size=o.max_size,
            logger=WEBSOCKETS_LOG,
        )
        self.transport: asyncio.Transport | None = None
        self.subprotocol: Subprotocol | None = None
        self.task: asyncio.Task[None] | None = None
        self._messages: deque[str | bytes] = deque()
        self._fragments: list[BytesLike] = []
        self._text_fragments = False
        self._waiter: asyncio.Future[None] | None = None
        self._drained: asyncio.Future[None] | None = None
        self._lost: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._reading_paused = False
        self._writing_paused = False

    # -- what the handler uses -------------------------------------------------------

    async def send(self, text: str) -> None:
        """Send one text message; waits while the write buffer is full."""
        if self.protocol.state is not State.OPEN:
            raise SocketClosed("the socket is closing")
        self.protocol.send_text(text.encode())
        self._write_out()
        while self._writing_paused and not self.lost:
            # Replies and our own CALLs may both wait here: one future, each waits shielded.
            if self._drained is None or self._drained.done():
                self._drained = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._drained)

    async def __aiter__(self) -> AsyncIterator[str | bytes]:
        """Each message (text as str, binary as bytes) until the other side closes."""
        messages = self._messages
        while True:
            if messages:
                message = messages.popleft()
                if self._reading_paused and len(messages) <= self.server.options.max_queue // 2:
                    self._reading_paused = False
                    if self.transport is not None and not self.lost:
                        self.transport.resume_reading()
                yield message
            elif self.lost or self.protocol.close_rcvd is not None:
                return
            else:
                self._waiter = asyncio.get_running_loop().create_future()
                await self._waiter

    async def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Start the closing handshake and wait (up to the close timeout) for its end."""
        self.start_closing(code, reason)
        await self._until_lost(self.server.options.close_timeout_s)

    def start_closing(self, code: int, reason: str = "") -> None:
        """Send the close frame, if the socket is open; a socket still opening is cut off."""
        if self.protocol.state is State.OPEN:
            self.protocol.send_close(code, reason)
            self._write_out()
        elif self.protocol.state is State.CONNECTING:
            self.abort()

    def abort(self) -> None:
        """Cut the socket off now (TCP reset), with no closing handshake."""
        self._stop_timer()  # the open or close timer: this is what it would do
        if self.transport is not None:
            self.transport.abort()

    @property
    def lost(self) -> bool:
        return self.protocol.state is State.CLOSED

    @property
    def close_code(self) -> int | None:
        """The code of the other side's close frame (1006: none came), once closed."""
        return self.protocol.close_code

    @property
    def close_reason(self) -> str:
        return self.protocol.close_reason or ""

    # -- asyncio.Protocol --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        o = self.server.options
        self.transport.set_write_buffer_limits(high=o.write_limit, low=o.write_limit // 4)
        self._timer = asyncio.get_running_loop().call_later(o.open_timeout_s, self.abort)
        self.server.sockets.add(self)

    def data_received(self, data: bytes) -> None:
        protocol = self.protocol
        protocol.receive_data(data)
        events = protocol.events_received()
        self._write_out()  # pongs, the echo of a close, a close for a protocol error
        for event in events:
            if isinstance(event, Frame):
                self._on_frame(event)
            elif isinstance(event, Request) and self.task is None:  # its answer may need the database
                self.task = asyncio.get_running_loop().create_task(self._serve(event))
                self.server.tasks.add(self.task)
                self.task.add_done_callback(self.server.tasks.discard)

    def eof_received(self) -> bool | None:
        self.protocol.receive_eof()
        self._write_out()
        return None  # let the transport close its side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.protocol.receive_eof()  # idempotent: the protocol is CLOSED from here on
        self.server.sockets.discard(self)
        self._stop_timer()
        for future in (self._waiter, self._drained, self._lost):
            if future is not None and not future.done():
                future.set_result(None)

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    # -- inside ----------------------------------------------------------------------

    async def _serve(self, request: Request) -> None:
        protocol = self.protocol
        response, accepted = await self._answer(request)
        if protocol.state is not State.CONNECTING:
            return  # the socket went (or timed out) while the answer was made
        protocol.send_response(response)
        self._write_out()
        if protocol.state is not State.OPEN:  # refused: the answer, then the end
            if self.transport is not None:
                self.transport.close()
            return
        self._stop_timer()  # open: no deadline any more
        self.subprotocol = protocol.subprotocol
        code = CloseCode.NORMAL_CLOSURE
        try:
            await self.server.handler(self, cast(T, accepted))
        except Exception:
            log.exception("socket handler failed")
            code = CloseCode.INTERNAL_ERROR
        finally:
            await self.close(code)

    async def _answer(self, request: Request) -> tuple[Response, T | None]:
        """The upgrade's answer: the opening hook's refusal, or websockets' own 101 (or
        its 4xx for a request that is no valid upgrade) with what the hook accepted."""
        server = self.server
        try:
            decided = await server.opening(request)
        except Exception:
            log.exception("opening a socket failed")
            decided = self.protocol.reject(
                http.HTTPStatus.INTERNAL_SERVER_ERROR, "Failed to open a WebSocket connection.\n"
            )
        accepted: T | None = None
        if isinstance(decided, Response):
            response = decided
        else:
            response = self.protocol.accept(request)
            if response.status_code == 101 and not server.serving:
                response = self.protocol.reject(http.HTTPStatus.SERVICE_UNAVAILABLE, "Server is shutting down.\n")
            accepted = decided
        response.headers["Server"] = server.options.server_header
        return response, accepted

    def _on_frame(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
            if not frame.fin:
                self._fragments = [frame.data]
                self._text_fragments = opcode is Opcode.TEXT
                return
            self._deliver(frame.data, opcode is Opcode.TEXT)
        elif opcode is Opcode.CONT:
            self._fragments.append(frame.data)
            if frame.fin:
                data, self._fragments = b"".join(self._fragments), []
                self._deliver(data, self._text_fragments)
        # Ping, pong and close are the protocol's: it answered them already.

    def _deliver(self, data: BytesLike, text: bool) -> None:
        data = data if isinstance(data, bytes) else bytes(data)
        message: str | bytes
        if text:
            try:
                message = data.decode()
            except UnicodeDecodeError as err:
                self.protocol.fail(CloseCode.INVALID_DATA, f"{err.reason} at position {err.start}")
                self._write_out()
                return
        else:
            message = data
        self._messages.append(message)
        if len(self._messages) >= self.server.options.max_queue and not self._reading_paused:
            self._reading_paused = True
            if self.transport is not None:
                self.transport.pause_reading()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _write_out(self) -> None:
        transport = self.transport
        if transport is None:
            return
        for data in self.protocol.data_to_send():
            if data:
                transport.write(data)
            elif transport.can_write_eof():  # the protocol is done: half-close, as a server does
                try:
                    transport.write_eof()
                except (OSError, RuntimeError):  # uvloop raises RuntimeError on a closed one
                    transport.abort()
                self._after_eof()
            else:  # TLS cannot half-close
                transport.close()

    def _after_eof(self) -> None:
        """The other side closes its part in time, or is cut off."""
        self._stop_timer()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self.server.options.close_timeout_s, self.abort)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def _until_lost(self, timeout_s: float) -> None:
        if self.lost:
            return
        if self._lost is None:  # a replaced socket's close and its handler's may both wait
            self._lost = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(timeout_s):
                await asyncio.shield(self._lost)
        except TimeoutError:
            self.abort()


class WebSocketServer(Generic[T]):
    """Listens on given sockets; each upgrade is decided by ``opening``, then served by ``handler``."""

    def __init__(self, opening: Opening[T], handler: Handler[T], options: SocketOptions) -> None:
        self.opening = opening
        self.handler = handler
        self.options = options
        choose = options.select_subprotocol
        # websockets binds this to each socket's protocol, as a method of its own.
        self.select_subprotocol = lambda _protocol, offered: choose(offered)
        self.sockets: set[WebSocket[T]] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.serving = True
        self._listeners: list[asyncio.Server] = []

    async def listen(self, sock: socket.socket, *, backlog: int, ssl_context: ssl.SSLContext | None) -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: WebSocket(self), sock=sock, backlog=backlog, ssl=ssl_context)
        self._listeners.append(server)

    @property
    def listening(self) -> list[socket.socket]:
        return [s for server in self._listeners for s in server.sockets]  # type: ignore[misc]

    async def close(self) -> None:
        """Stop listening, close every socket with 1001 and wait (up to the close timeout)
        for their handlers, then cut off whatever is left."""
        self.serving = False
        for server in self._listeners:
            server.close()
        for ws in list(self.sockets):
            ws.start_closing(CloseCode.GOING_AWAY, "server shutting down")
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=self.options.close_timeout_s + 1.0)
        for ws in list(self.sockets):
            ws.abort()
        for server in self._listeners:
            await server.wait_closed()
