"""Who is calling under /ocpi: the partner whose credentials token is in the request.

2.2.1 sends ``Authorization: Token <base64(token)>``; 2.1.1 partners (and some 2.2.1 ones)
send the token as it is. Both are tried: a token is a random string we issued, so its
base64 form never collides with another token's plain form.

A pending partner holds token A, good only for the versions and credentials endpoints
(2.2.1 4.1.2); every other module answers it 401.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from litestar import Request
from litestar.datastructures import State
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.security import digest_secret
from app.operators.models import Operator
from app.roaming.envelope import InvalidParameters, Suspended, Unauthorized
from app.roaming.headers import remember_parties
from app.roaming.models import OcpiPartner

# Longer than any token we issue or accept, shorter than abuse.
MAX_TOKEN_CHARS = 512


def presented_tokens(header: str | None) -> list[str]:
    """The token as sent and, when it is valid base64 of printable ASCII, decoded."""
    if not header:
        return []
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "token" or not value or len(value) > MAX_TOKEN_CHARS:
        return []
    tokens = [value]
    try:
        decoded = base64.b64decode(value, validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return tokens
    if decoded and decoded.isprintable() and " " not in decoded:
        tokens.insert(0, decoded)
    return tokens


def encode_token(token: str) -> str:
    """The Authorization header value for calling a 2.2.1 partner with ``token``."""
    return "Token " + base64.b64encode(token.encode()).decode()


async def partner_for(db: AsyncSession, header: str | None) -> OcpiPartner | None:
    """The partner (pending or registered) this Authorization header belongs to."""
    digests = [digest_secret(token) for token in presented_tokens(header)]
    if not digests:
        return None
    return await db.scalar(
        select(OcpiPartner).where(OcpiPartner.token_digest.in_(digests), OcpiPartner.state != "unregistered")
    )


async def provide_any_partner(request: Request[Any, State, Any], db: AsyncSession) -> OcpiPartner:
    """Dependency ``any_partner`` (versions, credentials): token A or a registered partner."""
    return await _caller(request, db, registered_only=False)


async def provide_partner(request: Request[Any, State, Any], db: AsyncSession) -> OcpiPartner:
    """Dependency ``partner`` (every other module): registered partners only."""
    return await _caller(request, db, registered_only=True)


async def _caller(request: Request[Any, State, Any], db: AsyncSession, *, registered_only: bool) -> OcpiPartner:
    try:
        partner = await partner_for(db, request.headers.get("authorization"))
        if partner is None or (registered_only and partner.state != "registered"):
            raise Unauthorized()
        if registered_only and partner.suspended_at is not None:
            raise Suspended()
        await _routed_to_us(request, db, partner)
    except BaseException:
        # Litestar never cleans up the dependencies resolved before one that raises: the
        # request's session would keep its connection until the garbage collector found it
        # (on SQLite, the only one: every other request would wait for it).
        await db.close()
        raise
    return partner


async def _routed_to_us(request: Request[Any, State, Any], db: AsyncSession, partner: OcpiPartner) -> None:
    """The answer's routing headers name both parties; a request routed (OCPI-to-*) to a
    party other than the one this token reaches is refused."""
    operator = await db.get(Operator, partner.operator_id)
    if operator is None:
        raise Unauthorized()
    theirs = (partner.country_code, partner.party_id) if partner.country_code and partner.party_id else None
    remember_parties(request.scope.setdefault("state", {}), theirs, (operator.country_code, operator.party_id))
    to_cc, to_pid = request.headers.get("ocpi-to-country-code"), request.headers.get("ocpi-to-party-id")
    if to_cc and to_pid and (to_cc.upper(), to_pid.upper()) != (operator.country_code, operator.party_id):
        raise InvalidParameters(f"OCPI-to {to_cc}/{to_pid} is not a party this credentials token reaches")
