"""JetStream publishes sent as a window and answered through one inbox of this process.

nats-py's ``publish_async`` makes a random token, a future with its callbacks and a
JSON-decoded ``PubAck`` per message, and its caller a timer per ack it waits for: at a
busy bridge's event rate that was a fifth of the bridge's CPU. Here each window's messages
carry the reply subject ``<inbox>.<window>.<index>``; one subscription counts the answers
(decoded with msgspec) and wakes the sender once, when the window is complete or its
deadline passes. What the stream stored, counted from the window's first message, is
what the sender may forget; the rest it sends again (the stream drops repeats by their
message id, a KV put is the same value twice).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from typing import Any

import msgspec
from nats.aio.msg import Msg
from nats.js import api

from app.core.bus_nats.link import Link
from app.core.bus_nats.wire import MSG_ID_HEADER

PENDING, STORED, REFUSED = 0, 1, 2

# subject, data, answered (a stream stores it: wait for its answer), message id (sent with an
# answered message, for the stream to drop a repeat; "": none)
Publish = tuple[str, bytes, bool, str]


class _Answer(msgspec.Struct):
    """A JetStream PubAck; only whether it is an error matters here."""

    error: dict[str, Any] | None = None


_answer = msgspec.json.Decoder(_Answer)


class _Window:
    __slots__ = ("done", "error", "remaining", "states")

    def __init__(self, states: bytearray, remaining: int) -> None:
        self.states = states
        self.remaining = remaining
        self.done = asyncio.Event()
        self.error = ""
        if remaining == 0:
            self.done.set()

    def answered(self, index: int, refused: str | None) -> None:
        if not 0 <= index < len(self.states) or self.states[index] != PENDING:
            return  # an answer from before a retry, or a repeat
        self.states[index] = REFUSED if refused is not None else STORED
        if refused is not None and not self.error:
            self.error = refused
        self.remaining -= 1
        if self.remaining == 0:
            self.done.set()

    def stored_from_start(self) -> int:
        return next((i for i, state in enumerate(self.states) if state != STORED), len(self.states))


class AckedPublisher:
    """``start`` after the connection is made (it subscribes to this process's inbox);
    ``send`` from any task, several windows may be under way at once."""

    def __init__(self, link: Link) -> None:
        self.link = link
        self._prefix = ""
        self._windows: dict[int, _Window] = {}
        self._ids = itertools.count()

    async def start(self) -> None:
        nc = self.link.nc
        assert nc is not None
        self._prefix = nc.new_inbox() + "."
        await nc.subscribe(self._prefix + ">", cb=self._on_answer)

    async def send(self, messages: Sequence[Publish], timeout_s: float) -> tuple[int, str]:
        """Publish ``messages`` in order; (how many of them, from the first, NATS has taken
        within ``timeout_s``, why the next one was not). A message that is not ``answered``
        counts as taken once it is handed to the connection."""
        nc = self.link.nc
        if nc is None or not self._prefix:
            return 0, "not connected"
        states = bytearray(len(messages))
        window = _Window(states, sum(1 for m in messages if m[2]))
        number = next(self._ids)
        self._windows[number] = window
        reply = f"{self._prefix}{number}."
        try:
            for index, (subject, data, answered, msg_id) in enumerate(messages):
                if answered:
                    headers = {MSG_ID_HEADER: msg_id} if msg_id else None
                    await nc.publish(subject, data, reply=f"{reply}{index}", headers=headers)
                else:
                    await nc.publish(subject, data)
                    states[index] = STORED
            try:
                await asyncio.wait_for(window.done.wait(), timeout_s)
            except TimeoutError:
                window.error = window.error or f"no answer from NATS within {timeout_s:g} s"
        except Exception as err:  # the connection closed or its buffer is full: send again later
            window.error = str(err).strip() or type(err).__name__
        finally:
            del self._windows[number]
        return window.stored_from_start(), window.error

    async def _on_answer(self, msg: Msg) -> None:
        number, _, index = msg.subject[len(self._prefix) :].partition(".")
        try:
            window = self._windows.get(int(number))
            position = int(index)
        except ValueError:
            return
        if window is None:
            return  # its sender gave up waiting: it sends those messages again
        # A status-only answer: 503 when no stream takes the subject.
        status = (msg.headers or {}).get(api.Header.STATUS)
        if status is not None:
            window.answered(position, f"NATS answered status {status}")
            return
        try:
            answer = _answer.decode(msg.data)
        except msgspec.DecodeError:
            window.answered(position, "an answer that is not a JetStream acknowledgement")
            return
        refused = None if answer.error is None else str(answer.error.get("description") or answer.error)
        window.answered(position, refused)
