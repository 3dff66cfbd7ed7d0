"""The wire shapes of the handshake: Credentials, CredentialsRole, BusinessDetails (2.2.1
"Credentials" 7.3, "Locations" BusinessDetails), as partners send them to us.

OCPI is snake_case and lenient about fields it does not know (a newer minor version may add
some), so unknown fields are ignored; the ones we rely on are checked to the spec's
lengths. CiStrings (country code, party id) are kept upper case.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from app.operators.models import Operator
from app.roaming.envelope import InvalidParameters

# The spec's Role enum (types "Role").
Role = Literal["CPO", "EMSP", "HUB", "NAP", "NSP", "OTHER", "SCSP"]

CountryCode = Annotated[str, msgspec.Meta(pattern="^[A-Za-z]{2}$")]
PartyId = Annotated[str, msgspec.Meta(pattern="^[A-Za-z0-9]{3}$")]
# string(64), "Case Sensitive, ASCII only": printable, and no space (it ends up in a header).
CredentialsToken = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern="^[\\x21-\\x7e]+$")]
Url = Annotated[str, msgspec.Meta(min_length=1, max_length=255, pattern="^https?://")]


class BusinessDetailsIn(msgspec.Struct):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    website: Annotated[str, msgspec.Meta(max_length=255)] | None = None
    logo: dict[str, Any] | None = None


class CredentialsRoleIn(msgspec.Struct):
    role: Role
    business_details: BusinessDetailsIn
    party_id: PartyId
    country_code: CountryCode


class CredentialsIn(msgspec.Struct):
    token: CredentialsToken
    url: Url
    roles: Annotated[list[CredentialsRoleIn], msgspec.Meta(min_length=1)]

    def parties(self) -> set[tuple[str, str]]:
        return {(r.country_code.upper(), r.party_id.upper()) for r in self.roles}

    def role_dicts(self) -> list[dict[str, Any]]:
        """The roles as stored on the partner: CiStrings upper case, business details as sent."""
        return [
            {
                "role": r.role,
                "country_code": r.country_code.upper(),
                "party_id": r.party_id.upper(),
                "business_details": msgspec.to_builtins(r.business_details),
            }
            for r in self.roles
        ]

    def main_role(self) -> CredentialsRoleIn:
        """The role a partner is known by: its eMSP role if it has one (we are a CPO), else its first."""
        return next((r for r in self.roles if r.role == "EMSP"), self.roles[0])


def credentials_of(raw: Any) -> CredentialsIn:
    """A Credentials object from decoded JSON; 2001 naming what is wrong. Every role must be
    a different (role, country_code, party_id) (7.3.1)."""
    try:
        credentials = msgspec.convert(raw, CredentialsIn)
    except msgspec.ValidationError as exc:
        raise InvalidParameters(f"credentials: {exc}") from None
    seen: set[tuple[str, str, str]] = set()
    for r in credentials.roles:
        key = (r.role, r.country_code.upper(), r.party_id.upper())
        if key in seen:
            raise InvalidParameters(f"credentials: role {'/'.join(key)} is listed twice")
        seen.add(key)
    return credentials


def our_credentials(operator: Operator, token: str, versions_url: str) -> dict[str, Any]:
    """What a partner holds to call the tenant: the token, our versions URL and our one CPO role."""
    return {
        "token": token,
        "url": versions_url,
        "roles": [
            {
                "role": "CPO",
                "party_id": operator.party_id,
                "country_code": operator.country_code,
                "business_details": {"name": operator.name},
            }
        ],
    }
