"""The 2.2.1 Token object (mod_tokens 12.3.2) and what it is checked against.

Strings are CiString/string(n) of the spec; DateTime is RFC 3339, UTC when it has no zone.
Fields we do not know are ignored, as a receiver should (a newer partner may send more).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec

from app.roaming.envelope import InvalidParameters, timestamp

TokenType = Literal["AD_HOC_USER", "APP_USER", "OTHER", "RFID"]
WhitelistType = Literal["ALWAYS", "ALLOWED", "ALLOWED_OFFLINE", "NEVER"]
ProfileType = Literal["CHEAP", "FAST", "GREEN", "REGULAR"]
TOKEN_TYPES: frozenset[str] = frozenset(TokenType.__args__)  # type: ignore[attr-defined]

CountryCode = Annotated[str, msgspec.Meta(min_length=2, max_length=2)]
PartyId = Annotated[str, msgspec.Meta(min_length=3, max_length=3)]


def up_to(n: int) -> Any:
    return Annotated[str, msgspec.Meta(max_length=n)]


class EnergyContract(msgspec.Struct, frozen=True, omit_defaults=True):
    supplier_name: up_to(64)  # type: ignore[valid-type]
    contract_id: up_to(64) | None = None  # type: ignore[valid-type]


class Token(msgspec.Struct, frozen=True, omit_defaults=True):
    country_code: CountryCode
    party_id: PartyId
    uid: Annotated[str, msgspec.Meta(min_length=1, max_length=36)]
    type: TokenType
    contract_id: Annotated[str, msgspec.Meta(min_length=1, max_length=36)]
    issuer: up_to(64)  # type: ignore[valid-type]
    valid: bool
    whitelist: WhitelistType
    last_updated: datetime
    visual_number: up_to(64) | None = None  # type: ignore[valid-type]
    group_id: up_to(36) | None = None  # type: ignore[valid-type]
    language: Annotated[str, msgspec.Meta(min_length=2, max_length=2)] | None = None
    default_profile_type: ProfileType | None = None
    energy_contract: EnergyContract | None = None

    @property
    def last_updated_utc(self) -> datetime:
        moment = self.last_updated
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

    def to_ocpi(self) -> dict[str, Any]:
        """The object as we store and answer it (DateTime in the OCPI form)."""
        data: dict[str, Any] = msgspec.to_builtins(self)
        data["last_updated"] = timestamp(self.last_updated_utc)
        return data


def parse_token(data: Any) -> Token:
    """A whole Token object from decoded JSON: InvalidParameters (2001) naming the field."""
    if not isinstance(data, dict):
        raise InvalidParameters("the body must be a Token object")
    try:
        return msgspec.convert(data, Token)
    except msgspec.ValidationError as exc:
        raise InvalidParameters(f"invalid Token: {exc}") from None


def decode_body(raw: bytes) -> Any:
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError:
        raise InvalidParameters("the body is not JSON") from None
