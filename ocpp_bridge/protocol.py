"""OCPP-J framing, schema validation and CALLERROR codes for both versions.

Validation uses the official JSON schemas shipped inside the ``ocpp`` package, compiled
once per action with fastjsonschema: roughly a hundred times faster than the
``jsonschema`` thread-pool path the ``ocpp`` library takes, which matters at thousands of
messages a second.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any

import fastjsonschema
import msgspec

CALL, CALLRESULT, CALLERROR = 2, 3, 4
MAX_MESSAGE_ID_LEN = 36


class Version(StrEnum):
    V16 = "ocpp1.6"
    V201 = "ocpp2.0.1"

    @property
    def short(self) -> str:
        return "1.6" if self is Version.V16 else "2.0.1"


class OcppError(Exception):
    """Becomes a CALLERROR. ``code`` uses 2.0.1 spelling; ``code_for`` adapts it to 1.6."""

    def __init__(self, code: str, description: str = "", details: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description[:255]
        self.details = details or {}

    def code_for(self, version: Version) -> str:
        if version is Version.V16:
            return _V16_SPELLING.get(self.code, self.code)
        return self.code


# 1.6 spells two codes differently and lacks the 2.0.1-only ones.
_V16_SPELLING = {
    "FormatViolation": "FormationViolation",
    "OccurrenceConstraintViolation": "OccurenceConstraintViolation",
    "RpcFrameworkError": "FormationViolation",
    "MessageTypeNotSupported": "FormationViolation",
}

# JSON-schema keyword that failed -> the OCPP-J error the spec names for it.
_RULE_TO_CODE = {
    "required": "OccurrenceConstraintViolation",
    "minItems": "OccurrenceConstraintViolation",
    "maxItems": "OccurrenceConstraintViolation",
    "type": "TypeConstraintViolation",
    "additionalProperties": "FormatViolation",
}


class Frame(msgspec.Struct, frozen=True):
    kind: int
    message_id: str
    action: str = ""
    payload: Any = None
    error_code: str = ""
    error_description: str = ""
    error_details: Any = None


# About twice as fast as json.loads on these small frames; strict JSON (no NaN).
_decoder = msgspec.json.Decoder()


def parse_frame(raw: str | bytes) -> Frame:
    """Parse one OCPP-J frame; raise OcppError (with ``message_id`` attached if known)."""
    try:
        msg = _decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise _framing("FormatViolation", f"not valid JSON: {exc}", "-1") from None
    if not isinstance(msg, list) or len(msg) < 3:
        raise _framing("RpcFrameworkError", "a frame is a JSON array of 3 to 5 elements", "-1")
    kind, message_id = msg[0], msg[1]
    if not isinstance(message_id, str) or not message_id or len(message_id) > MAX_MESSAGE_ID_LEN:
        raise _framing("RpcFrameworkError", "messageId must be a string of 1-36 characters", "-1")
    if kind == CALL:
        if len(msg) != 4 or not isinstance(msg[2], str):
            raise _framing("FormatViolation", "CALL is [2, messageId, action, payload]", message_id)
        if not isinstance(msg[3], dict):
            raise _framing("FormatViolation", "the payload of a CALL is a JSON object", message_id)
        return Frame(CALL, message_id, msg[2], msg[3])
    if kind == CALLRESULT:
        if len(msg) != 3:
            raise _framing("FormatViolation", "CALLRESULT is [3, messageId, payload]", message_id)
        return Frame(CALLRESULT, message_id, payload=msg[2])
    if kind == CALLERROR:
        if len(msg) not in (4, 5):
            raise _framing("FormatViolation", "CALLERROR is [4, messageId, code, description, details]", message_id)
        return Frame(
            CALLERROR,
            message_id,
            error_code=str(msg[2]),
            error_description=str(msg[3]),
            error_details=msg[4] if len(msg) == 5 else {},
        )
    raise _framing("MessageTypeNotSupported", f"unknown message type {kind!r}", message_id)


def _framing(code: str, description: str, message_id: str) -> OcppError:
    err = OcppError(code, description)
    err.details["_message_id"] = message_id
    return err


def frame_message_id(err: OcppError) -> str:
    return str(err.details.pop("_message_id", "-1"))


_encoder = msgspec.json.Encoder()


def call_result(message_id: str, payload: dict[str, Any]) -> str:
    return _encoder.encode([CALLRESULT, message_id, payload]).decode()


def call_error(message_id: str, error: OcppError, version: Version) -> str:
    return _encoder.encode([CALLERROR, message_id, error.code_for(version), error.description, error.details]).decode()


def call(message_id: str, action: str, payload: dict[str, Any]) -> str:
    return _encoder.encode([CALL, message_id, action, payload]).decode()


# -- schemas ------------------------------------------------------------------------


def _schema_file(version: Version, action: str, response: bool) -> str:
    if version is Version.V16:
        return f"{action}Response.json" if response else f"{action}.json"
    return f"{action}Response.json" if response else f"{action}Request.json"


@cache
def known_actions(version: Version) -> frozenset[str]:
    folder = "v16" if version is Version.V16 else "v201"
    names = [p.name for p in resources.files("ocpp").joinpath(folder, "schemas").iterdir()]
    suffix = ".json" if version is Version.V16 else "Request.json"
    return frozenset(n[: -len(suffix)] for n in names if n.endswith(suffix) and not n.endswith("Response.json"))


@cache
def validator(version: Version, action: str, response: bool) -> Callable[[Any], Any]:
    folder = "v16" if version is Version.V16 else "v201"
    path = resources.files("ocpp").joinpath(folder, "schemas", _schema_file(version, action, response))
    schema = json.loads(path.read_text(encoding="utf-8-sig"))
    # 1.6 enum-string types carry "additionalProperties" too; it's a no-op for strings.
    return fastjsonschema.compile(schema)  # type: ignore[no-any-return]


def validate(version: Version, action: str, payload: dict[str, Any], *, response: bool = False) -> None:
    """Raise OcppError with the spec's code if ``payload`` breaks the action's schema."""
    try:
        validator(version, action, response)(payload)
    except fastjsonschema.JsonSchemaValueException as exc:
        code = _RULE_TO_CODE.get(exc.rule or "", "PropertyConstraintViolation")
        field = (exc.name or "data").removeprefix("data").lstrip(".") or "payload"
        raise OcppError(
            code, f"{field}: {exc.message.removeprefix(exc.name or '').strip()}", {"field": field}
        ) from None
