"""What travels on NATS: subjects, headers, stream and bucket names, keys, decoding."""

from __future__ import annotations

import base64
import logging
import os
import re
import socket

import msgspec
from nats.aio.msg import Msg

from app.core.bus import EVENT_TYPES, Event, EventHandler

log = logging.getLogger("laddnat.bus")

STREAM = "LADDNAT_EVENTS"
DURABLE_PREFIX = "laddnat.ev."
FANOUT_PREFIX = "laddnat.fanout."
COMMAND_PREFIX = "laddnat-cmd."
REGISTRY_BUCKET = "laddnat_commands"
LEADERS_BUCKET = "laddnat_leaders"
SUBJECT_HEADER = "Laddnat-Subject"
STATUS_HEADER = "Laddnat-Status"
MSG_ID_HEADER = "Nats-Msg-Id"

ACK_TIMEOUT_S = 5.0  # a publish or a flush that NATS has not answered by then failed
RETRY_S = 0.25
CONNECT_TIMEOUT_S = 2.0

_KEY_CHARS = re.compile(r"[-/_=a-zA-Z0-9]+(\.[-/_=a-zA-Z0-9]+)*")
TOKEN_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def default_node_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def registry_key(subject: str) -> str:
    """A served subject as a KV key; anything outside the key alphabet is base64url-coded."""
    if _KEY_CHARS.fullmatch(subject) and not subject.startswith("="):
        return subject
    return "=" + base64.urlsafe_b64encode(subject.encode()).decode().rstrip("=")


def registry_put_subject(key: str) -> str:
    """Where a put to the registry bucket goes (what nats-py's ``KeyValue.put`` publishes to)."""
    return f"$KV.{REGISTRY_BUCKET}.{key}"


def consumer_name(group: str, subject: str) -> str:
    """``<group>__<subject>`` (dots made underscores; ``"*"`` is ``all``)."""
    return f"{TOKEN_UNSAFE.sub('_', group)}__{'all' if subject == '*' else TOKEN_UNSAFE.sub('_', subject)}"


def decode(msg: Msg) -> Event | None:
    """The event a message carries, by its subject; None (logged) when it is not one."""
    subject = msg.subject.split(".", 2)[2]
    event_type = EVENT_TYPES.get(subject)
    if event_type is None:
        log.warning("event of unknown subject skipped", extra={"subject": subject})
        return None
    try:
        return msgspec.json.decode(msg.data, type=event_type)
    except msgspec.ValidationError:
        log.exception("undecodable event skipped", extra={"subject": subject})
        return None


async def call(handler: EventHandler, event: Event) -> None:
    """A fan-out handler: a failure is logged, never redelivered."""
    try:
        await handler(event)
    except Exception:
        log.exception("event handler failed", extra={"subject": event.subject})


def reason(err: BaseException) -> str:
    text = str(err).strip()
    return text or type(err).__name__
