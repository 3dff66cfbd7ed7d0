"""A tenant's roaming partners as its operators manage them; scoped to the tenant, so
another company's partner is ``roaming.partner_not_found``.

We register with a partner (we are the client of its credentials module, 2.2.1 7.1): with
the versions URL and token A it gave us we read its 2.2.1 details, POST our credentials with
a fresh token B (it calls us with B from then on; we keep B's digest) and keep the token C it
answers to call it with. Update sends a new B with PUT; unregister sends DELETE.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import case, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.database import utcnow
from app.core.security import digest_secret
from app.core.settings import Settings
from app.operators.models import Operator
from app.roaming.client import PartnerCallFailed, PartnerClient, Party
from app.roaming.envelope import OcpiError, Status
from app.roaming.models import OcpiPartner, OcpiPush
from app.roaming.operator.errors import (
    MissingEndpoints,
    NoMutualVersion,
    PartnerNotFound,
    PartnerNotRegistered,
    PartnerUnusable,
    PartyAlreadyRegistered,
)
from app.roaming.operator.stats import PushStats
from app.roaming.registration.handshake import HandshakeFailed, PartnerVersion, fetch_version, new_token
from app.roaming.registration.inbound import UNNAMED, versions_url
from app.roaming.registration.parties import taken_party
from app.roaming.registration.schemas import CredentialsIn, credentials_of, our_credentials

log = logging.getLogger("laddnat.roaming")


class PartnerService:
    def __init__(self, db: AsyncSession, settings: Settings, *, tenant_id: uuid.UUID) -> None:
        self.db = db
        self.settings = settings
        self.tenant_id = tenant_id

    # -- reading ---------------------------------------------------------------------------

    async def list(self, *, limit: int, offset: int) -> tuple[list[OcpiPartner], int]:
        mine = OcpiPartner.operator_id == self.tenant_id
        rows = await self.db.scalars(
            select(OcpiPartner).where(mine).order_by(OcpiPartner.created_at, OcpiPartner.id).limit(limit).offset(offset)
        )
        total = await self.db.scalar(select(func.count()).select_from(OcpiPartner).where(mine))
        return list(rows), int(total or 0)

    async def get(self, partner_id: uuid.UUID) -> OcpiPartner:
        partner = await self.db.scalar(
            select(OcpiPartner).where(OcpiPartner.id == partner_id, OcpiPartner.operator_id == self.tenant_id)
        )
        if partner is None:
            raise PartnerNotFound(f"no roaming partner {partner_id}")
        return partner

    async def pushes(self, partner_id: uuid.UUID, *, limit: int, offset: int) -> tuple[Sequence[OcpiPush], int]:
        """The partner's push log, newest first."""
        partner = await self.get(partner_id)
        theirs = OcpiPush.partner_id == partner.id
        rows = await self.db.scalars(
            select(OcpiPush).where(theirs).order_by(OcpiPush.id.desc()).limit(limit).offset(offset)
        )
        total = await self.db.scalar(select(func.count()).select_from(OcpiPush).where(theirs))
        return list(rows), int(total or 0)

    async def push_stats(self, partner_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, PushStats]:
        """How the pushes to each partner stand: what operators look at first when a partner
        complains (one grouped query for a page of partners)."""
        if not partner_ids:
            return {}
        rows = (
            await self.db.execute(
                select(
                    OcpiPush.partner_id,
                    func.max(case((OcpiPush.outcome == "delivered", OcpiPush.done_at))),
                    func.count(case((OcpiPush.done_at.is_(None), 1))),
                    func.count(case((OcpiPush.outcome == "gave_up", 1))),
                )
                .where(OcpiPush.partner_id.in_(partner_ids))
                .group_by(OcpiPush.partner_id)
            )
        ).all()
        stats = {pid: PushStats(last, pending, failed) for pid, last, pending, failed in rows}
        failing = (
            await self.db.execute(
                select(OcpiPush.partner_id, OcpiPush.last_error)
                .where(OcpiPush.partner_id.in_(partner_ids), OcpiPush.last_error.is_not(None))
                .order_by(OcpiPush.id.desc())
            )
        ).all()
        for pid, error in failing:
            found = stats.get(pid)
            if found is not None and found.last_error is None:
                found.last_error = error
        return stats

    # -- suspending ------------------------------------------------------------------------

    async def suspend(self, partner_id: uuid.UUID) -> OcpiPartner:
        """Stop serving a partner for now: its calls answer 403, its tokens authorise nothing,
        and our pushes to it wait (none is lost: they go out once it is resumed)."""
        partner = await self.get(partner_id)
        if partner.state != "registered":
            raise PartnerNotRegistered(f"partner {partner.id} is {partner.state}")
        if partner.suspended_at is None:
            partner.suspended_at = partner.updated_at = utcnow()
            await self.db.commit()
        return partner

    async def resume(self, partner_id: uuid.UUID) -> OcpiPartner:
        partner = await self.get(partner_id)
        if partner.suspended_at is not None:
            partner.suspended_at, partner.updated_at = None, utcnow()
            await self.db.commit()
        return partner

    def our_versions_url(self) -> str:
        return versions_url(self.settings)

    # -- a partner registers with us -------------------------------------------------------

    async def issue_token(self, name: str | None = None) -> tuple[OcpiPartner, str]:
        """A pending partner and its token A (returned only now; we keep its digest)."""
        token = new_token()
        partner = OcpiPartner(
            operator_id=self.tenant_id, name=name or UNNAMED, state="pending", token_digest=digest_secret(token)
        )
        self.db.add(partner)
        await self.db.commit()
        return partner, token

    # -- we register with a partner --------------------------------------------------------

    async def register_with(self, their_versions_url: str, token: str, *, name: str | None = None) -> OcpiPartner:
        operator = await self._operator()
        await self._release()
        version = await self._their_version(token, their_versions_url, operator)
        ours = new_token()
        # Committed before we call: the partner reads our versions with token B meanwhile.
        partner = OcpiPartner(
            operator_id=self.tenant_id,
            name=name or UNNAMED,
            state="pending",
            token_digest=digest_secret(ours),
            versions_url=their_versions_url,
            version=version.version,
            endpoints=version.endpoints,
        )
        self.db.add(partner)
        await self.db.commit()
        try:
            theirs = await self._send_credentials("POST", partner, token, ours, operator)
        except PartnerUnusable:
            await self.db.execute(delete(OcpiPartner).where(OcpiPartner.id == partner.id))
            await self.db.commit()
            raise
        taken = await taken_party(self.db, self.tenant_id, theirs.parties(), besides=partner.id)
        if taken is not None:
            # They registered us already: tell them it is off, and keep the partner we had.
            await self._release()
            await self._tell_unregistered(partner, theirs.token, operator)
            await self.db.execute(delete(OcpiPartner).where(OcpiPartner.id == partner.id))
            await self.db.commit()
            raise PartyAlreadyRegistered(f"{'*'.join(taken)} is already a registered partner of this company")
        self._take(partner, theirs)
        partner.state = "registered"
        partner.registered_at = utcnow()
        await self.db.commit()
        return partner

    async def update_with(self, partner_id: uuid.UUID) -> OcpiPartner:
        """New credentials for a registered partner (a fresh token B, PUT), its endpoints read again."""
        partner = await self.get(partner_id)
        if partner.state != "registered" or not partner.their_token or not partner.versions_url:
            raise PartnerNotRegistered(f"partner {partner.id} is {partner.state}")
        operator = await self._operator()
        await self._release()
        version = await self._their_version(partner.their_token, partner.versions_url, operator)
        old_digest, ours = partner.token_digest, new_token()
        # The partner reads our versions with the new token while it handles our PUT; the old
        # one stops now, or comes back if the PUT fails.
        partner.token_digest = digest_secret(ours)
        partner.endpoints, partner.version = version.endpoints, version.version
        await self.db.commit()
        try:
            theirs = await self._send_credentials("PUT", partner, partner.their_token, ours, operator)
        except PartnerUnusable:
            partner.token_digest = old_digest
            await self.db.commit()
            raise
        self._take(partner, theirs)
        await self.db.commit()
        return partner

    async def unregister(self, partner_id: uuid.UUID) -> OcpiPartner:
        """Off: a registered partner is told (DELETE on its credentials; if it cannot be told,
        it is unregistered all the same and its calls are refused); a pending one's token A
        dies. Unregistering an unregistered partner changes nothing."""
        partner = await self.get(partner_id)
        if partner.state == "registered" and partner.their_token:
            operator = await self._operator()
            await self._release()
            await self._tell_unregistered(partner, partner.their_token, operator)
        if partner.state != "unregistered":
            partner.state, partner.their_token, partner.updated_at = "unregistered", None, utcnow()
            await self.db.commit()
        return partner

    # -- the calls -------------------------------------------------------------------------

    async def _release(self) -> None:
        """End the read transaction before waiting on a partner: the connection goes back to
        the pool (on SQLite the only one) instead of waiting with us."""
        await self.db.commit()

    async def _operator(self) -> Operator:
        operator = await self.db.get(Operator, self.tenant_id)
        assert operator is not None
        return operator

    async def _their_version(self, token: str, url: str, operator: Operator) -> PartnerVersion:
        try:
            return await fetch_version(self.settings.ocpi, token, url, Party.of_operator(operator))
        except HandshakeFailed as exc:
            if exc.status == Status.UNSUPPORTED_VERSION:
                raise NoMutualVersion(exc.message) from None
            if exc.status == Status.NO_MATCHING_ENDPOINTS:
                raise MissingEndpoints(exc.message) from None
            raise PartnerUnusable(exc.message) from None

    async def _send_credentials(
        self, method: str, partner: OcpiPartner, token: str, ours: str, operator: Operator
    ) -> CredentialsIn:
        """POST or PUT our credentials (with token ``ours`` for them); their credentials back."""
        url = _credentials_url(partner.endpoints)
        client = PartnerClient(self.settings.ocpi, token, ours=Party.of_operator(operator))
        try:
            answer = await client.call(method, url, our_credentials(operator, ours, self.our_versions_url()))
            return credentials_of(answer.data)
        except PartnerCallFailed as exc:
            raise PartnerUnusable(f"{method} credentials: {exc}") from None
        except OcpiError as exc:
            raise PartnerUnusable(f"{method} credentials: the answer is not valid: {exc.message}") from None

    async def _tell_unregistered(self, partner: OcpiPartner, token: str, operator: Operator) -> None:
        client = PartnerClient(self.settings.ocpi, token, ours=Party.of_operator(operator))
        try:
            await client.call("DELETE", _credentials_url(partner.endpoints))
        except PartnerCallFailed as exc:
            log.warning("OCPI partner %s was not told it is unregistered: %s", partner.id, exc)

    @staticmethod
    def _take(partner: OcpiPartner, theirs: CredentialsIn) -> None:
        main = theirs.main_role()
        partner.their_token = theirs.token
        partner.roles = theirs.role_dicts()
        partner.country_code, partner.party_id = main.country_code.upper(), main.party_id.upper()
        if partner.name == UNNAMED:
            partner.name = main.business_details.name
        partner.updated_at = utcnow()


def _credentials_url(endpoints: list[dict[str, Any]]) -> str:
    # The module is symmetric (7.2): whichever role the partner listed it under.
    return next(str(e["url"]) for e in endpoints if e.get("identifier") == "credentials")
