"""A partner registering with us (we are the server of the credentials module, 2.2.1 7.2).

POST with token A: we read the partner's versions with its token B, keep B, hand back token C
(only C's digest is kept) and A is spent. PUT with C: new B, URL or roles; its versions are
read again and a new C replaces the old. DELETE: unregistered, both tokens dead. POST by a
registered partner, and PUT or DELETE by one that is not, answer HTTP 405 as the spec says.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.database import claim, utcnow
from app.core.security import digest_secret
from app.core.settings import Settings
from app.operators.models import Operator
from app.roaming.client import Party
from app.roaming.envelope import InvalidParameters, OcpiError, Status
from app.roaming.models import OcpiPartner
from app.roaming.paths import VERSIONS_PATH
from app.roaming.registration.handshake import HandshakeFailed, PartnerVersion, fetch_version, new_token
from app.roaming.registration.parties import taken_party
from app.roaming.registration.schemas import CredentialsIn, credentials_of, our_credentials

# The name of a partner issued token A without one, until its credentials name it.
UNNAMED = "(awaiting registration)"


class MethodNotAllowed(OcpiError):
    def __init__(self, message: str) -> None:
        super().__init__(Status.CLIENT_ERROR, message, http_status=405)


def versions_url(settings: Settings) -> str:
    return settings.http.public_base_url.rstrip("/") + VERSIONS_PATH


class CredentialsService:
    def __init__(self, db: AsyncSession, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    async def ours(self, partner: OcpiPartner, token: str) -> dict[str, Any]:
        """What the partner holds to call us: ``token`` is the one it called with (we keep only
        its digest)."""
        return our_credentials(await self._operator(partner), token, versions_url(self.settings))

    async def register(self, partner: OcpiPartner, raw: Any) -> dict[str, Any]:
        if partner.state != "pending":
            raise MethodNotAllowed("already registered: PUT updates the credentials, DELETE unregisters")
        if partner.versions_url is not None:
            # The token B of our own registration with this partner, still under way: it is
            # already being registered (by us), not a token A.
            raise MethodNotAllowed("a registration with this partner is under way")
        credentials = credentials_of(raw)
        operator = await self._operator(partner)
        await self._check_parties(partner, credentials)
        await self.db.commit()  # nothing written: the connection is not held while the partner answers
        version = await self._their_version(credentials, operator)
        token = new_token()
        # Token A is spent by this very write: of two POSTs racing with it one registers.
        spent = await claim(
            self.db,
            update(OcpiPartner)
            .where(
                OcpiPartner.id == partner.id,
                OcpiPartner.state == "pending",
                OcpiPartner.token_digest == partner.token_digest,
            )
            .values(
                **_credentials_values(credentials, version, token),
                name=partner.name if partner.name != UNNAMED else credentials.main_role().business_details.name,
                state="registered",
                registered_at=utcnow(),
            ),
        )
        if not spent:
            await self.db.rollback()
            raise MethodNotAllowed("already registered: PUT updates the credentials, DELETE unregisters")
        await self.db.commit()
        return our_credentials(operator, token, versions_url(self.settings))

    async def update(self, partner: OcpiPartner, raw: Any) -> dict[str, Any]:
        if partner.state != "registered":
            raise MethodNotAllowed("not registered: POST registers")
        credentials = credentials_of(raw)
        operator = await self._operator(partner)
        await self._check_parties(partner, credentials)
        await self.db.commit()  # nothing written: the connection is not held while the partner answers
        version = await self._their_version(credentials, operator)
        token = new_token()
        changed = await claim(
            self.db,
            update(OcpiPartner)
            .where(OcpiPartner.id == partner.id, OcpiPartner.state == "registered")
            .values(**_credentials_values(credentials, version, token)),
        )
        if not changed:
            await self.db.rollback()
            raise MethodNotAllowed("not registered: POST registers")
        await self.db.commit()
        return our_credentials(operator, token, versions_url(self.settings))

    async def unregister(self, partner: OcpiPartner) -> None:
        if partner.state != "registered":
            raise MethodNotAllowed("not registered")
        await self.db.execute(
            update(OcpiPartner)
            .where(OcpiPartner.id == partner.id)
            .values(state="unregistered", their_token=None, updated_at=utcnow())
        )
        await self.db.commit()

    async def _operator(self, partner: OcpiPartner) -> Operator:
        operator = await self.db.get(Operator, partner.operator_id)
        assert operator is not None  # a partner's tenant is never deleted under it
        return operator

    async def _check_parties(self, partner: OcpiPartner, credentials: CredentialsIn) -> None:
        taken = await taken_party(self.db, partner.operator_id, credentials.parties(), besides=partner.id)
        if taken is not None:
            raise InvalidParameters(f"party {'*'.join(taken)} is already registered with this CPO")

    async def _their_version(self, credentials: CredentialsIn, operator: Operator) -> PartnerVersion:
        try:
            return await fetch_version(
                self.settings.ocpi, credentials.token, credentials.url, Party.of_operator(operator)
            )
        except HandshakeFailed as exc:
            raise OcpiError(exc.status, exc.message) from None


def _credentials_values(credentials: CredentialsIn, version: PartnerVersion, token: str) -> dict[str, Any]:
    main = credentials.main_role()
    return {
        "token_digest": digest_secret(token),
        "their_token": credentials.token,
        "versions_url": credentials.url,
        "version": version.version,
        "endpoints": version.endpoints,
        "roles": credentials.role_dicts(),
        "country_code": main.country_code.upper(),
        "party_id": main.party_id.upper(),
        "updated_at": utcnow(),
    }
