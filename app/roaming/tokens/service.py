"""Tokens an eMSP pushes to us (receiver side): stored per tenant, read back by their owner.

A partner reaches only tokens of its own parties (the CredentialsRoles it registered with)
and only in the tenant it belongs to; anything else is 404 as if it did not exist.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.roaming.envelope import InvalidParameters, Status, UnknownObject
from app.roaming.models import OcpiPartner, OcpiToken
from app.roaming.tokens.schemas import TOKEN_TYPES, Token, parse_token

# What identifies a token: a PATCH may repeat these, never change them.
KEY_FIELDS = ("country_code", "party_id", "uid", "type")


def partner_parties(partner: OcpiPartner) -> set[tuple[str, str]]:
    """The (country code, party id) pairs the partner speaks for, upper case (CiString)."""
    parties = {(str(r.get("country_code", "")).upper(), str(r.get("party_id", "")).upper()) for r in partner.roles}
    if partner.country_code and partner.party_id:
        parties.add((partner.country_code.upper(), partner.party_id.upper()))
    return parties


def token_type(raw: str | None) -> str:
    """The ``type`` query parameter: RFID when absent (2.2.1 12.2.1)."""
    if raw is None or raw == "":
        return "RFID"
    if raw not in TOKEN_TYPES:
        raise InvalidParameters(f"type={raw!r} is not a TokenType ({', '.join(sorted(TOKEN_TYPES))})")
    return raw


class TokenService:
    def __init__(self, db: AsyncSession, partner: OcpiPartner) -> None:
        self.db = db
        self.partner = partner

    def _party(self, country_code: str, party_id: str) -> tuple[str, str]:
        party = (country_code.upper(), party_id.upper())
        if party not in partner_parties(self.partner):
            raise UnknownObject(f"{country_code}/{party_id} is not a party of these credentials")
        return party

    async def _find(self, party: tuple[str, str], uid: str, type_: str) -> OcpiToken | None:
        return await self.db.scalar(
            select(OcpiToken).where(
                OcpiToken.operator_id == self.partner.operator_id,
                OcpiToken.country_code == party[0],
                OcpiToken.party_id == party[1],
                OcpiToken.uid == uid,
                OcpiToken.type == type_,
            )
        )

    async def get(self, country_code: str, party_id: str, uid: str, type_: str) -> dict[str, Any]:
        row = await self._find(self._party(country_code, party_id), uid, type_)
        if row is None:
            raise UnknownObject(f"no token {uid} of type {type_}", Status.UNKNOWN_TOKEN)
        return row.data

    async def put(self, country_code: str, party_id: str, uid: str, type_: str, body: Any) -> None:
        """Store the whole Token; a push older than the one we hold changes nothing."""
        party = self._party(country_code, party_id)
        token = parse_token(body)
        self._matches(token, party, uid, type_)
        row = await self._find(party, uid, type_)
        if row is not None and token.last_updated_utc < row.last_updated:
            return
        if row is None:
            row = OcpiToken(
                operator_id=self.partner.operator_id,
                partner_id=self.partner.id,
                country_code=party[0],
                party_id=party[1],
                uid=uid,
                type=type_,
            )
            self.db.add(row)
        self._apply(row, token)
        await self.db.commit()

    async def patch(self, country_code: str, party_id: str, uid: str, type_: str, body: Any) -> None:
        """Change the fields given (``last_updated`` among them); the result must be a
        valid Token, or nothing changes."""
        party = self._party(country_code, party_id)
        if not isinstance(body, dict) or not body:
            raise InvalidParameters("the body must be an object with the fields to change")
        if "last_updated" not in body:
            raise InvalidParameters("a PATCH must carry last_updated")
        row = await self._find(party, uid, type_)
        if row is None:
            raise UnknownObject(f"no token {uid} of type {type_}", Status.UNKNOWN_TOKEN)
        token = parse_token({**row.data, **body})
        self._matches(token, party, uid, type_)
        if token.last_updated_utc < row.last_updated:
            return
        self._apply(row, token)
        await self.db.commit()

    @staticmethod
    def _matches(token: Token, party: tuple[str, str], uid: str, type_: str) -> None:
        given = {"country_code": token.country_code.upper(), "party_id": token.party_id.upper()}
        given |= {"uid": token.uid, "type": token.type}
        wanted = {"country_code": party[0], "party_id": party[1], "uid": uid, "type": type_}
        for name in KEY_FIELDS:
            if given[name] != wanted[name]:
                raise InvalidParameters(f"{name} {given[name]!r} in the body differs from the URL's {wanted[name]!r}")

    def _apply(self, row: OcpiToken, token: Token) -> None:
        row.partner_id = self.partner.id
        row.contract_id = token.contract_id
        row.valid = token.valid
        row.whitelist = token.whitelist
        row.data = token.to_ocpi()
        row.last_updated = token.last_updated_utc
