"""Partners' tokens at our chargers: roaming's answer to app/sessions' ForeignTokens.

A token a partner pushed to the charger's tenant is that partner's; then, by its whitelist
(2.2.1 12.4.4 WhitelistType):

- ``ALWAYS``: accepted if valid, no call (auth_method WHITELIST);
- ``ALLOWED``, ``ALLOWED_OFFLINE``: asked in real time (POST {tokens}/{uid}/authorize) within
  ``authorize_timeout_s``; its answer decides (AUTH_REQUEST). No answer (timeout, partner
  down, an error other than 2004 unknown token): accepted if valid (WHITELIST), as these
  whitelist types allow;
- ``NEVER``: asked in real time only; no answer is a refusal.

A token the eMSP marked not valid is refused (Blocked) without a call. A START_SESSION
command's token is accepted for the session the command opened (auth_method COMMAND).

A token nobody pushed is asked about in real time at every registered partner of the tenant
that offers a tokens SENDER endpoint, at once and within ``authorize_timeout_s``: the first
to answer ALLOWED (in partner order) takes the session; 2004 means "not ours"; a partner
that does not answer in time is left out. No partner claiming it: Unknown, as before.

The decision is kept for a short while per charger and token, so the StartTransaction that
follows an Authorize does not ask the eMSP a second time, and its session is opened with the
eMSP's authorization_reference.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.chargers.models import ChargePoint, Evse, Location, charger_owner
from app.chargers.service import ChargerRef
from app.core.database import utcnow
from app.core.settings import OcpiSettings
from app.operators.models import Operator
from app.roaming.client import PartnerCallFailed, PartnerClient, Party, endpoint_url
from app.roaming.envelope import Status
from app.roaming.models import OcpiPartner, OcpiSession, OcpiToken
from app.roaming.sessions.service import Grant, RoamingSessions
from app.sessions.models import Transaction
from app.sessions.types import AuthInfo

log = logging.getLogger("laddnat.roaming")

# AuthorizationInfo.allowed -> the OCPP status (2.0.1 spelling; the 1.6 bridge maps what it lacks to Invalid).
ALLOWED_STATUS = {
    "ALLOWED": "Accepted",
    "BLOCKED": "Blocked",
    "EXPIRED": "Expired",
    "NO_CREDIT": "NoCredit",
    "NOT_ALLOWED": "NotAtThisLocation",
}
# OCPP idToken types whose value is a card's uid (1.6 id tags have no type: cards too).
CARD_TYPES = frozenset({None, "ISO14443", "ISO15693", "KeyCode", "Local"})
# How long an Authorize's decision stands for the StartTransaction after it.
DECISION_TTL_S = 120.0
MAX_DECISIONS = 10_000
# The partners whose tokens count and who are asked: registered and not suspended.
SERVING = (OcpiPartner.state == "registered", OcpiPartner.suspended_at.is_(None))


@dataclass(frozen=True)
class Decision:
    status: str
    grant: Grant | None
    made_at: float


def cdr_token(row: OcpiToken) -> dict[str, Any]:
    """The CdrToken of a stored token (2.2.1 9.4.3)."""
    return {
        "country_code": row.country_code,
        "party_id": row.party_id,
        "uid": row.uid,
        "type": row.type,
        "contract_id": row.contract_id,
    }


class RoamingTokens:
    """Implements app.sessions.foreign_tokens.ForeignTokens; one per bridge process."""

    def __init__(
        self,
        settings: OcpiSettings,
        *,
        clock: Callable[[], datetime] = utcnow,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.transport = transport
        self._decisions: OrderedDict[tuple[uuid.UUID, str], Decision] = OrderedDict()

    # -- ForeignTokens ----------------------------------------------------------------

    async def authorize(
        self,
        db: AsyncSession,
        charger: ChargerRef,
        token: str,
        token_type: str | None,
        *,
        for_tx: uuid.UUID | None = None,
    ) -> AuthInfo | None:
        if for_tx is not None:
            running = await db.scalar(select(OcpiSession).where(OcpiSession.transaction_id == for_tx))
            if running is not None and str(running.token.get("uid")) == token:
                return AuthInfo(status="Accepted")  # a resent start, its stop: no new question
        place = await self._place(db, charger)
        if place is None:
            return None
        operator_id, location_id = place
        if await RoamingSessions(db, self.settings, clock=self.clock).pending_command(charger.id, token):
            return AuthInfo(status="Accepted")
        row = await self._token(db, operator_id, token, token_type)
        if row is None and token_type not in CARD_TYPES:
            return None
        recent = self._recent(charger.id, token)
        if recent is not None:
            return AuthInfo(status=recent.status)
        if row is None:
            unknown = await self._ask_everyone(db, charger, operator_id, location_id, token)
            if unknown is None:
                return None
            decision = unknown
        else:
            decision = await self._decide(db, charger, row, location_id)
        self._remember(charger.id, token, decision)
        return AuthInfo(status=decision.status)

    async def transaction_started(self, db: AsyncSession, charger: ChargerRef, tx: Transaction) -> None:
        if tx.id_token is None:
            return
        place = await self._place(db, charger)
        if place is None:
            return
        decision = self._recent(charger.id, tx.id_token)
        grant = decision.grant if decision is not None and decision.status == "Accepted" else None
        await RoamingSessions(db, self.settings, clock=self.clock).started(tx, place[0], grant)

    async def transaction_ended(self, db: AsyncSession, charger: ChargerRef, tx: Transaction) -> None:
        await RoamingSessions(db, self.settings, clock=self.clock).ended(tx)

    # -- the decision -----------------------------------------------------------------

    async def _decide(self, db: AsyncSession, charger: ChargerRef, row: OcpiToken, location_id: uuid.UUID) -> Decision:
        whitelisted = Grant(row.partner_id, cdr_token(row), "WHITELIST")
        if not row.valid:
            return self._decision("Blocked", None)
        if row.whitelist == "ALWAYS":
            return self._decision("Accepted", whitelisted)
        try:
            info = await self._ask(db, charger, row, location_id)
        except PartnerCallFailed as exc:
            if exc.ocpi_status == Status.UNKNOWN_TOKEN:
                return self._decision("Invalid", None)
            log.info("real-time authorisation of a %s token failed: %s", row.whitelist, exc)
            if row.whitelist in ("ALLOWED", "ALLOWED_OFFLINE"):
                return self._decision("Accepted", whitelisted)
            return self._decision("Invalid", None)
        status = ALLOWED_STATUS[info["allowed"]]
        reference = info.get("authorization_reference")
        grant = Grant(
            row.partner_id,
            cdr_token(row),
            "AUTH_REQUEST",
            reference if isinstance(reference, str) and 0 < len(reference) <= 36 else None,
        )
        return self._decision(status, grant if status == "Accepted" else None)

    async def _ask(
        self, db: AsyncSession, charger: ChargerRef, row: OcpiToken, location_id: uuid.UUID
    ) -> dict[str, Any]:
        """The eMSP's AuthorizationInfo for ``row`` at this charger; PartnerCallFailed if
        there is none (no answer in time, an error, an answer that is no AuthorizationInfo)."""
        partner = await db.get(OcpiPartner, row.partner_id)
        operator = await db.get(Operator, row.operator_id)
        if partner is None or operator is None or partner.state != "registered" or not partner.their_token:
            raise PartnerCallFailed("the token's partner is not registered")
        evse_uids = await self._evse_uids(db, charger)
        return await self._authorize_at(
            partner, operator, Party(row.country_code, row.party_id), row, location_id, evse_uids
        )

    async def _authorize_at(
        self,
        partner: OcpiPartner,
        operator: Operator,
        theirs: Party | None,
        token: OcpiToken | tuple[str, str],
        location_id: uuid.UUID,
        evse_uids: list[uuid.UUID],
    ) -> dict[str, Any]:
        """POST {tokens}/{uid}/authorize at ``partner``: its AuthorizationInfo, or PartnerCallFailed.
        ``token``: a stored token, or (uid, type) of one nobody pushed."""
        uid, kind = (token.uid, token.type) if isinstance(token, OcpiToken) else token
        base = endpoint_url(partner.endpoints, "tokens", "SENDER")
        if base is None or not partner.their_token:
            raise PartnerCallFailed("the partner offers no tokens SENDER endpoint")
        client = PartnerClient(
            self.settings,
            partner.their_token,
            ours=Party.of_operator(operator),
            theirs=theirs,
            transport=self.transport,
        )
        answer = await client.call(
            "POST",
            f"{base}/{quote(uid, safe='')}/authorize",
            {"location_id": str(location_id), "evse_uids": [str(e) for e in evse_uids]},
            params={"type": kind},
            timeout_s=self.settings.authorize_timeout_s,
        )
        info = answer.data
        if not isinstance(info, dict) or info.get("allowed") not in ALLOWED_STATUS:
            raise PartnerCallFailed("the answer is no AuthorizationInfo")
        return info

    async def _ask_everyone(
        self, db: AsyncSession, charger: ChargerRef, operator_id: uuid.UUID, location_id: uuid.UUID, uid: str
    ) -> Decision | None:
        """A card nobody pushed: every registered partner of the tenant is asked at once."""
        operator = await db.get(Operator, operator_id)
        partners = list(
            await db.scalars(
                select(OcpiPartner)
                .where(OcpiPartner.operator_id == operator_id, *SERVING)
                .order_by(OcpiPartner.created_at, OcpiPartner.id)
            )
        )
        partners = [p for p in partners if endpoint_url(p.endpoints, "tokens", "SENDER") and p.their_token]
        if operator is None or not partners:
            return None
        evse_uids = await self._evse_uids(db, charger)

        async def one(partner: OcpiPartner) -> dict[str, Any] | None:
            theirs = Party.of_partner(partner)
            try:
                return await self._authorize_at(partner, operator, theirs, (uid, "RFID"), location_id, evse_uids)
            except PartnerCallFailed:
                return None  # 2004 (not theirs), no answer in time, an error: not this partner's

        answers = await asyncio.gather(*(one(p) for p in partners))
        claimed = [(p, info) for p, info in zip(partners, answers, strict=True) if info is not None]
        if not claimed:
            return None
        partner, info = next(((p, i) for p, i in claimed if i["allowed"] == "ALLOWED"), claimed[0])
        status = ALLOWED_STATUS[info["allowed"]]
        if status != "Accepted":
            return self._decision(status, None)
        reference = info.get("authorization_reference")
        if not (isinstance(reference, str) and 0 < len(reference) <= 36):
            reference = None
        pushed = info.get("token")
        token: dict[str, Any] = pushed if isinstance(pushed, dict) else {}
        cdr = {
            "country_code": str(token.get("country_code") or partner.country_code or "")[:2],
            "party_id": str(token.get("party_id") or partner.party_id or "")[:3],
            "uid": uid,
            "type": "RFID",
            "contract_id": str(token.get("contract_id") or uid)[:36],
        }
        return self._decision(status, Grant(partner.id, cdr, "AUTH_REQUEST", reference))

    @staticmethod
    async def _evse_uids(db: AsyncSession, charger: ChargerRef) -> list[uuid.UUID]:
        return list(
            await db.scalars(select(Evse.id).where(Evse.charge_point_id == charger.id).order_by(Evse.evse_number))
        )

    # -- lookups ------------------------------------------------------------------------

    @staticmethod
    async def _place(db: AsyncSession, charger: ChargerRef) -> tuple[uuid.UUID, uuid.UUID] | None:
        """The charger's tenant and location; None for one partners cannot see (no location)."""
        row = (
            await db.execute(
                select(charger_owner(), ChargePoint.location_id)
                .select_from(ChargePoint)
                .outerjoin(Location, Location.id == ChargePoint.location_id)
                .where(ChargePoint.id == charger.id)
            )
        ).first()
        if row is None or row[0] is None or row[1] is None:
            return None
        return row[0], row[1]

    @staticmethod
    async def _token(db: AsyncSession, operator_id: uuid.UUID, token: str, token_type: str | None) -> OcpiToken | None:
        """The tenant's pushed token this idTag/idToken is: a card's uid (type RFID), an
        eMAID's contract id, a central token's uid of any type."""
        # A token of a partner that is unregistered or suspended authorises nothing.
        serving = select(OcpiPartner.id).where(*SERVING)
        stmt = select(OcpiToken).where(OcpiToken.operator_id == operator_id, OcpiToken.partner_id.in_(serving))
        if token_type in CARD_TYPES:
            stmt = stmt.where(OcpiToken.uid == token, OcpiToken.type == "RFID")
        elif token_type == "eMAID":
            stmt = stmt.where(or_(OcpiToken.contract_id == token, OcpiToken.uid == token))
        elif token_type == "Central":
            stmt = stmt.where(OcpiToken.uid == token)
        else:
            return None
        return await db.scalar(stmt.order_by(OcpiToken.last_updated.desc()).limit(1))

    # -- the decisions kept -------------------------------------------------------------

    @staticmethod
    def _decision(status: str, grant: Grant | None) -> Decision:
        return Decision(status, grant, time.monotonic())

    def _recent(self, charger_id: uuid.UUID, token: str) -> Decision | None:
        decision = self._decisions.get((charger_id, token))
        if decision is None or time.monotonic() - decision.made_at > DECISION_TTL_S:
            return None
        return decision

    def _remember(self, charger_id: uuid.UUID, token: str, decision: Decision) -> None:
        self._decisions[(charger_id, token)] = decision
        self._decisions.move_to_end((charger_id, token))
        while len(self._decisions) > MAX_DECISIONS:
            self._decisions.popitem(last=False)
