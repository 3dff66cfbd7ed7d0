"""The Commands module's objects (2.2.1 mod_commands) and the Token object they carry
(mod_tokens), with the spec's lengths and enums: a body that breaks them is 2001.

Unknown fields are ignored (a newer minor version may add some); a missing required field,
a wrong type, a string too long or a value outside an enum is not.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

import msgspec

from app.roaming.envelope import InvalidParameters

# CiString / string: printable ASCII (CiString) or any text of at most n characters.
PRINTABLE = r"^[\x20-\x7e]*$"


Text2 = Annotated[str, msgspec.Meta(max_length=2)]
Text64 = Annotated[str, msgspec.Meta(max_length=64)]
Ci36 = Annotated[str, msgspec.Meta(max_length=36, pattern=PRINTABLE)]

Url = Annotated[str, msgspec.Meta(min_length=1, max_length=255, pattern=r"^https?://[\x21-\x7e]+$")]
CountryCode = Annotated[str, msgspec.Meta(min_length=2, max_length=2, pattern=r"^[A-Za-z]{2}$")]
PartyId = Annotated[str, msgspec.Meta(min_length=3, max_length=3, pattern=r"^[A-Za-z0-9]{3}$")]
Id36 = Annotated[str, msgspec.Meta(min_length=1, max_length=36, pattern=PRINTABLE)]

T = TypeVar("T")

COMMAND_TYPES = ("CANCEL_RESERVATION", "RESERVE_NOW", "START_SESSION", "STOP_SESSION", "UNLOCK_CONNECTOR")
TokenType = Literal["AD_HOC_USER", "APP_USER", "OTHER", "RFID"]
WhitelistType = Literal["ALWAYS", "ALLOWED", "ALLOWED_OFFLINE", "NEVER"]


class In(msgspec.Struct, frozen=True, kw_only=True):
    """A request object as a partner sends it (snake_case, as OCPI writes its fields)."""


class EnergyContract(In, frozen=True, kw_only=True):
    supplier_name: Text64
    contract_id: Text64 | None = None


class Token(In, frozen=True, kw_only=True):
    country_code: CountryCode
    party_id: PartyId
    uid: Id36
    type: TokenType
    contract_id: Id36
    visual_number: Text64 | None = None
    issuer: Text64
    group_id: Ci36 | None = None
    valid: bool
    whitelist: WhitelistType
    language: Text2 | None = None
    default_profile_type: Literal["CHEAP", "FAST", "GREEN", "REGULAR"] | None = None
    energy_contract: EnergyContract | None = None
    last_updated: datetime

    def cdr_token(self) -> dict[str, Any]:
        """The CdrToken a Session and CDR carry for it."""
        return {
            "country_code": self.country_code.upper(),
            "party_id": self.party_id.upper(),
            "uid": self.uid,
            "type": self.type,
            "contract_id": self.contract_id,
        }


class StartSession(In, frozen=True, kw_only=True):
    response_url: Url
    token: Token
    location_id: Id36
    evse_uid: Id36 | None = None
    connector_id: Id36 | None = None
    authorization_reference: Id36 | None = None


class StopSession(In, frozen=True, kw_only=True):
    response_url: Url
    session_id: Id36


class ReserveNow(In, frozen=True, kw_only=True):
    response_url: Url
    token: Token
    expiry_date: datetime
    reservation_id: Id36
    location_id: Id36
    evse_uid: Id36 | None = None
    authorization_reference: Id36 | None = None


class CancelReservation(In, frozen=True, kw_only=True):
    response_url: Url
    reservation_id: Id36


class UnlockConnector(In, frozen=True, kw_only=True):
    response_url: Url
    location_id: Id36
    evse_uid: Id36
    connector_id: Id36


CommandIn = StartSession | StopSession | ReserveNow | CancelReservation | UnlockConnector

BODY_TYPES: dict[str, type[CommandIn]] = {
    "START_SESSION": StartSession,
    "STOP_SESSION": StopSession,
    "RESERVE_NOW": ReserveNow,
    "CANCEL_RESERVATION": CancelReservation,
    "UNLOCK_CONNECTOR": UnlockConnector,
}


def utc(value: datetime) -> datetime:
    """An OCPI DateTime without a zone is UTC (2.2.1 16.2)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def decode(kind: str, raw: bytes) -> CommandIn:
    """The body of a ``kind`` command, or InvalidParameters naming what is wrong."""
    body_type = BODY_TYPES.get(kind)
    if body_type is None:
        raise InvalidParameters(f"unknown command {kind[:40]!r}; one of {', '.join(COMMAND_TYPES)}")
    return decode_as(body_type, raw)


def decode_as(body_type: type[T], raw: bytes) -> T:
    try:
        return msgspec.json.decode(raw, type=body_type)
    except msgspec.ValidationError as err:
        raise InvalidParameters(f"invalid {body_type.__name__}: {err}") from None
    except msgspec.DecodeError as err:
        raise InvalidParameters(f"the body is not JSON: {err}") from None


# -- what we answer -----------------------------------------------------------------------

# CommandResponseType and CommandResultType.
ACCEPTED = "ACCEPTED"
REJECTED = "REJECTED"
NOT_SUPPORTED = "NOT_SUPPORTED"
UNKNOWN_SESSION = "UNKNOWN_SESSION"
CANCELED_RESERVATION = "CANCELED_RESERVATION"
EVSE_OCCUPIED = "EVSE_OCCUPIED"
EVSE_INOPERATIVE = "EVSE_INOPERATIVE"
FAILED = "FAILED"
TIMEOUT = "TIMEOUT"
UNKNOWN_RESERVATION = "UNKNOWN_RESERVATION"


def display_text(message: str | None) -> list[dict[str, str]] | None:
    """An English DisplayText list, or None."""
    return [{"language": "en", "text": message[:512]}] if message else None


def command_response(result: str, timeout_s: int, message: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"result": result, "timeout": timeout_s}
    if (shown := display_text(message)) is not None:
        body["message"] = shown
    return body


def command_result(result: str, message: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"result": result}
    if (shown := display_text(message)) is not None:
        body["message"] = shown
    return body
