"""Receiving a partner's charging-profile requests (2.2.1 mod_charging_profiles, CPO side).

Like a command: a synchronous ChargingProfileResponse (ACCEPTED, NOT_SUPPORTED when the
session's charger does no smart charging, REJECTED when it is offline or the session is not
charging, UNKNOWN_SESSION when the session is not the partner's), then the charger's
answer as a ChargingProfileResult / ClearProfileResult / ActiveChargingProfileResult
POSTed to ``response_url`` by the command worker (app/roaming/commands/worker.py), with the
same retry rules as commands. TOO_OFTEN is never answered: the charger's own command queue
is the limit.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.chargers.models import ChargePoint
from app.core.bus import Bus
from app.core.database import next_number, utcnow
from app.core.settings import Settings
from app.roaming.chargingprofiles.mapping import TX_STACK_LEVEL, SetChargingProfile, checked, set_profile_args
from app.roaming.chargingprofiles.support import smart_charging
from app.roaming.commands.models import OcpiCommand
from app.roaming.commands.schemas import ACCEPTED, NOT_SUPPORTED, REJECTED, Url
from app.roaming.commands.service import CommandReceiver, Reply, origin_of, request_digest
from app.roaming.commands.targets import Refused, check_connected, running_session
from app.roaming.envelope import InvalidParameters
from app.roaming.models import OcpiPartner
from app.sessions.models import Transaction

MAX_DURATION_S = 2_147_483_647


def response_url(raw: str | None) -> str:
    """The ``response_url`` query parameter: required, an http(s) URL of at most 255 chars."""
    if not raw:
        raise InvalidParameters("response_url is required")
    try:
        return msgspec.convert(raw, Url)
    except msgspec.ValidationError:
        raise InvalidParameters("response_url must be an http(s) URL of at most 255 characters") from None


def duration(raw: str | None) -> int:
    if not raw or not raw.isdigit() or not 0 < int(raw) <= MAX_DURATION_S:
        raise InvalidParameters("duration is required: a positive number of seconds")
    return int(raw)


def profile_response(result: str, timeout_s: int) -> dict[str, Any]:
    return {"result": result, "timeout": timeout_s}


class ProfileReceiver:
    def __init__(
        self, db: AsyncSession, bus: Bus, settings: Settings, *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.db = db
        self.bus = bus
        self.settings = settings
        self.clock = clock
        self.commands = CommandReceiver(db, settings, clock=clock)
        self.timeout_s = self.commands.timeout_s

    async def active(self, partner: OcpiPartner, session_id: str, seconds: int, url: str) -> Reply:
        """GET: the charger's composite schedule for the session's EVSE."""

        def build(tx: Transaction, _: int) -> tuple[str, dict[str, Any]]:
            return "get-composite-schedule", {"evse": tx.evse_number, "durationS": seconds}

        return await self._receive(partner, "GET_PROFILE", session_id, url, {"duration": seconds}, build)

    async def set(self, partner: OcpiPartner, session_id: str, request: SetChargingProfile) -> Reply:
        """PUT: the profile as a TxProfile of the session's transaction."""
        profile = checked(request.charging_profile)

        def build(tx: Transaction, profile_id: int) -> tuple[str, dict[str, Any]]:
            return "set-charging-profile", set_profile_args(
                profile, evse=tx.evse_number, charger_transaction_id=tx.charger_transaction_id, profile_id=profile_id
            )

        plain = msgspec.to_builtins(request.charging_profile)
        return await self._receive(partner, "SET_PROFILE", session_id, request.response_url, plain, build)

    async def clear(self, partner: OcpiPartner, session_id: str, url: str) -> Reply:
        """DELETE: the TxProfile(s) our partners set on the session's EVSE."""

        def build(tx: Transaction, _: int) -> tuple[str, dict[str, Any]]:
            return "clear-charging-profile", {"evse": tx.evse_number, "purpose": "Tx", "stackLevel": TX_STACK_LEVEL}

        return await self._receive(partner, "CLEAR_PROFILE", session_id, url, {}, build)

    async def _receive(
        self,
        partner: OcpiPartner,
        kind: str,
        session_id: str,
        url: str,
        request: dict[str, Any],
        build: Callable[[Transaction, int], tuple[str, dict[str, Any]]],
    ) -> Reply:
        digest = request_digest(partner.id, kind, {"session_id": session_id, **request})
        retried = await self.commands.retry(partner, kind, url, digest)
        if retried is not None:
            return Reply(profile_response(retried.body["result"], self.timeout_s))
        try:
            session, tx = await running_session(self.db, partner, session_id)
            charger = await self.db.get(ChargePoint, tx.charge_point_id)
            assert charger is not None
            check_connected(charger)
            supported = await smart_charging(self.db, self.bus, self.settings, charger, origin_of(partner))
            if supported is None:
                raise Refused(REJECTED, "the charge point did not answer")
            if not supported:
                raise Refused(NOT_SUPPORTED, "the charge point does no smart charging")
        except Refused as refused:
            await self.db.rollback()
            return Reply(profile_response(refused.result, self.timeout_s))
        profile_id = await next_number(self.db, "charging_profile") % 2_147_483_647 or 1
        name, args = build(tx, profile_id)
        now = self.clock()
        self.db.add(
            OcpiCommand(
                id=uuid.uuid4(),
                operator_id=partner.operator_id,
                partner_id=partner.id,
                kind=kind,
                response_url=url,
                request_digest=digest,
                state="accepted",
                charge_point_id=charger.id,
                evse_number=tx.evse_number,
                command=name,
                args=args,
                ocpi_session_id=session.id,
                due_at=now + timedelta(seconds=self.timeout_s),
                created_at=now,
            )
        )
        try:
            await self.db.commit()
        except IntegrityError:  # the same request twice at once: the other one is sent
            await self.db.rollback()
            return Reply(profile_response(ACCEPTED, self.timeout_s))
        return Reply(profile_response(ACCEPTED, self.timeout_s), queued=True)
