"""Receiving a partner's command: check it, answer at once, leave the charger to the worker.

The CommandResponse says whether we could hand the command to a charger: a location or
EVSE of another tenant is unknown (2003), a charger that is not connected is REJECTED, a
session not the partner's is UNKNOWN_SESSION. An accepted command is a row in
``ocpi_commands``; the command worker (worker.py) sends it through the command path every
remote command takes (app/sessions/commands.py, audited as ``ocpi:<country>*<party>``) and
puts the CommandResult for the partner's ``response_url`` in the push outbox.

Retries. A partner that did not get our answer sends the command again. Two rules keep the
charger from getting it twice:
- the same ``response_url`` for the same command type is the same command (forever): the
  answer is repeated and, if the result is known, POSTed to it again;
- the same request apart from its ``response_url`` within RETRY_WINDOW is a retry too,
  unless the partner sent another command to that charger in between (reserve, cancel,
  reserve again is meant): the answer is repeated and the one result goes to both URLs.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.chargers.command_service import BUS_MARGIN_S
from app.chargers.models import ChargePoint
from app.core.database import next_number, utcnow
from app.core.settings import Settings
from app.roaming.commands.models import OcpiCommand
from app.roaming.commands.schemas import (
    ACCEPTED,
    REJECTED,
    CancelReservation,
    CommandIn,
    ReserveNow,
    StartSession,
    StopSession,
    Token,
    UnlockConnector,
    command_response,
    utc,
)
from app.roaming.commands.targets import (
    Refused,
    Target,
    check_connected,
    find_target,
    running_session,
)
from app.roaming.envelope import Status
from app.roaming.models import OcpiPartner, OcpiSession, OcpiToken
from app.roaming.push import enqueue

RETRY_WINDOW = timedelta(seconds=60)
# The CommandResult may take the charger's timeout, the bus's margin and one push.
RESULT_MARGIN_S = 10
# OCPP 1.6 idTag is CiString20: a longer token uid cannot reach a 1.6 charger.
V16_ID_TAG_MAX = 20


@dataclass(frozen=True)
class Reply:
    """What the POST answers: the CommandResponse and the OCPI status it travels with."""

    body: dict[str, Any]
    status: Status = Status.SUCCESS
    message: str | None = None
    # Set when a command was stored: the worker should look at once.
    queued: bool = False


def request_digest(partner_id: uuid.UUID, kind: str, request: Any) -> str:
    """The request without its response_url, for recognising a retry."""
    plain = msgspec.to_builtins(request)
    if isinstance(plain, dict):
        plain.pop("response_url", None)
    return hashlib.sha256(msgspec.json.encode([str(partner_id), kind, plain], order="sorted")).hexdigest()


def partner_parties(partner: OcpiPartner) -> set[tuple[str, str]]:
    """Every (country_code, party_id) the partner registered with, upper case."""
    parties = {(str(r.get("country_code", "")).upper(), str(r.get("party_id", "")).upper()) for r in partner.roles}
    if partner.country_code and partner.party_id:
        parties.add((partner.country_code.upper(), partner.party_id.upper()))
    return parties


def origin_of(partner: OcpiPartner) -> str:
    """How the command audit log names a partner's commands."""
    return f"ocpi:{partner.country_code or '??'}*{partner.party_id or '???'}"


class CommandReceiver:
    """The Commands module's receiver: one partner's commands against its tenant's network."""

    def __init__(self, db: AsyncSession, settings: Settings, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.timeout_s = math.ceil(settings.ocpp.command_timeout_s + BUS_MARGIN_S) + RESULT_MARGIN_S

    # -- the POST ----------------------------------------------------------------------

    async def receive(self, partner: OcpiPartner, kind: str, request: CommandIn) -> Reply:
        digest = request_digest(partner.id, kind, request)
        retried = await self.retry(partner, kind, request.response_url, digest)
        if retried is not None:
            return retried
        try:
            command = await self._prepare(partner, kind, request)
        except Refused as refused:
            await self.db.rollback()
            return Reply(
                command_response(refused.result, self.timeout_s, refused.message), refused.status, refused.message
            )
        command.request_digest = digest
        self.db.add(command)
        try:
            await self.db.commit()
        except IntegrityError:
            # The same command (same response_url) arrived twice at once: the other won.
            await self.db.rollback()
            return Reply(command_response(ACCEPTED, self.timeout_s))
        return Reply(command_response(ACCEPTED, self.timeout_s), queued=True)

    async def retry(self, partner: OcpiPartner, kind: str, response_url: str, digest: str) -> Reply | None:
        """The answer to a request already received (see the module docstring), or None."""
        same_url = await self.db.scalar(
            select(OcpiCommand).where(
                OcpiCommand.partner_id == partner.id,
                OcpiCommand.kind == kind,
                OcpiCommand.response_url == response_url,
            )
        )
        if same_url is not None:
            if same_url.result_body is not None:
                await self._post_result(partner, same_url, same_url.result_body)
                await self.db.commit()
            return Reply(command_response(ACCEPTED, self.timeout_s))
        since = self.clock() - RETRY_WINDOW
        original = await self.db.scalar(
            select(OcpiCommand)
            .where(
                OcpiCommand.partner_id == partner.id,
                OcpiCommand.request_digest == digest,
                OcpiCommand.kind == kind,
                OcpiCommand.duplicate_of.is_(None),
                OcpiCommand.created_at >= since,
            )
            .order_by(OcpiCommand.created_at.desc())
            .limit(1)
        )
        if original is None or await self._followed(original):
            return None
        copy = OcpiCommand(
            id=uuid.uuid4(),
            operator_id=partner.operator_id,
            partner_id=partner.id,
            kind=kind,
            response_url=response_url,
            request_digest=digest,
            state="duplicate",
            duplicate_of=original.id,
            due_at=original.due_at,
            created_at=self.clock(),
        )
        self.db.add(copy)
        if original.result_body is not None:
            copy.result, copy.result_body, copy.answered_at = original.result, original.result_body, self.clock()
            await self._post_result(partner, copy, original.result_body)
        await self.db.commit()
        return Reply(command_response(ACCEPTED, self.timeout_s))

    async def _followed(self, original: OcpiCommand) -> bool:
        """Whether the partner sent another command to the same charger since ``original``:
        then the same request again is meant anew (reserve, cancel, reserve), not a retry."""
        later = await self.db.scalar(
            select(OcpiCommand.id)
            .where(
                OcpiCommand.partner_id == original.partner_id,
                OcpiCommand.charge_point_id == original.charge_point_id,
                OcpiCommand.duplicate_of.is_(None),
                OcpiCommand.created_at > original.created_at,
                OcpiCommand.id != original.id,
            )
            .limit(1)
        )
        return later is not None

    async def _post_result(self, partner: OcpiPartner, command: OcpiCommand, body: dict[str, Any]) -> None:
        await enqueue_result(self.db, partner, command, body, self.clock())

    # -- each command ------------------------------------------------------------------

    async def _prepare(self, partner: OcpiPartner, kind: str, request: CommandIn) -> OcpiCommand:
        if isinstance(request, StartSession):
            return await self._start(partner, request)
        if isinstance(request, StopSession):
            return await self._stop(partner, request)
        if isinstance(request, ReserveNow):
            return await self._reserve(partner, request)
        if isinstance(request, CancelReservation):
            return await self._cancel(partner, request)
        assert isinstance(request, UnlockConnector)
        return await self._unlock(partner, request)

    def _command(
        self, partner: OcpiPartner, kind: str, response_url: str, target: Target, **fields: Any
    ) -> OcpiCommand:
        now = self.clock()
        values: dict[str, Any] = {
            "id": uuid.uuid4(),
            "operator_id": partner.operator_id,
            "partner_id": partner.id,
            "kind": kind,
            "response_url": response_url,
            "request_digest": "",
            "state": "accepted",
            "charge_point_id": target.charger.id,
            "evse_number": target.evse.evse_number if target.evse is not None else None,
            "due_at": now + timedelta(seconds=self.timeout_s),
            "created_at": now,
        }
        return OcpiCommand(**(values | fields))

    async def _start(self, partner: OcpiPartner, request: StartSession) -> OcpiCommand:
        token = self._own_token(partner, request.token)
        target = await find_target(self.db, partner, request.location_id, request.evse_uid, request.connector_id)
        if target.evse is None:
            raise Refused(REJECTED, "evse_uid is required: the location has more than one EVSE")
        check_connected(target.charger)
        if target.charger.ocpp_version == "1.6" and len(token.uid) > V16_ID_TAG_MAX:
            raise Refused(REJECTED, f"the charge point takes token uids of at most {V16_ID_TAG_MAX} characters")
        await self._keep_token(partner, token)
        # The roaming session exists from now on, PENDING until the charger starts the
        # transaction (app/roaming/sessions links it: same id tag, same charger).
        session = OcpiSession(
            id=uuid.uuid4(),
            operator_id=partner.operator_id,
            partner_id=partner.id,
            token=token.cdr_token(),
            auth_method="COMMAND",
            authorization_reference=request.authorization_reference,
            status="PENDING",
            created_at=self.clock(),
            last_updated=self.clock(),
        )
        self.db.add(session)
        await self.db.flush()
        return self._command(
            partner,
            "START_SESSION",
            request.response_url,
            target,
            command="remote-start",
            args={"idToken": token.uid, "evse": target.evse.evse_number},
            ocpi_session_id=session.id,
        )

    async def _stop(self, partner: OcpiPartner, request: StopSession) -> OcpiCommand:
        session, tx = await running_session(self.db, partner, request.session_id)
        charger = await self.db.get(ChargePoint, tx.charge_point_id)
        assert charger is not None
        check_connected(charger)
        return self._command(
            partner,
            "STOP_SESSION",
            request.response_url,
            Target(charger, None),
            command="remote-stop",
            args={"transactionId": str(tx.id)},
            evse_number=tx.evse_number,
            ocpi_session_id=session.id,
        )

    async def _reserve(self, partner: OcpiPartner, request: ReserveNow) -> OcpiCommand:
        token = self._own_token(partner, request.token)
        expires_at = utc(request.expiry_date)
        if expires_at <= self.clock():
            raise Refused(REJECTED, "expiry_date is in the past")
        target = await find_target(self.db, partner, request.location_id, request.evse_uid, None, any_evse=True)
        check_connected(target.charger)
        if target.charger.ocpp_version == "1.6" and len(token.uid) > V16_ID_TAG_MAX:
            raise Refused(REJECTED, f"the charge point takes token uids of at most {V16_ID_TAG_MAX} characters")
        await self._keep_token(partner, token)
        # The partner's reservation id never reaches a charger (2.2.1 ReserveNow): ours is
        # unique, and a RESERVE_NOW with the same partner id on the same charger replaces
        # the reservation, as OCPP does for the same id.
        earlier = await self._reservation(partner, request.reservation_id)
        if earlier is not None and earlier.charge_point_id == target.charger.id and earlier.charger_reservation_id:
            charger_id = earlier.charger_reservation_id
        else:
            charger_id = await next_number(self.db, "reservation") % 2_147_483_647
        evse = target.evse.evse_number if target.evse is not None else None
        return self._command(
            partner,
            "RESERVE_NOW",
            request.response_url,
            target,
            command="reserve-now",
            args={"idToken": token.uid, "expiresAt": expires_at.isoformat(), "evse": evse, "reservationId": charger_id},
            reservation_id=request.reservation_id,
            charger_reservation_id=charger_id,
        )

    async def _cancel(self, partner: OcpiPartner, request: CancelReservation) -> OcpiCommand:
        reservation = await self._reservation(partner, request.reservation_id)
        if reservation is None or reservation.charge_point_id is None or reservation.charger_reservation_id is None:
            raise Refused(REJECTED, f"no reservation {request.reservation_id!r} of yours")
        charger = await self.db.get(ChargePoint, reservation.charge_point_id)
        assert charger is not None
        check_connected(charger)
        return self._command(
            partner,
            "CANCEL_RESERVATION",
            request.response_url,
            Target(charger, None),
            command="cancel-reservation",
            args={"reservationId": reservation.charger_reservation_id},
            evse_number=reservation.evse_number,
            reservation_id=request.reservation_id,
            charger_reservation_id=reservation.charger_reservation_id,
        )

    async def _unlock(self, partner: OcpiPartner, request: UnlockConnector) -> OcpiCommand:
        target = await find_target(self.db, partner, request.location_id, request.evse_uid, request.connector_id)
        assert target.evse is not None and target.connector is not None
        check_connected(target.charger)
        return self._command(
            partner,
            "UNLOCK_CONNECTOR",
            request.response_url,
            target,
            command="unlock-connector",
            args={"evse": target.evse.evse_number, "connector": target.connector},
        )

    # -- lookups -----------------------------------------------------------------------

    async def _reservation(self, partner: OcpiPartner, reservation_id: str) -> OcpiCommand | None:
        """The partner's latest RESERVE_NOW with this reservation id (CiString: any case)."""
        return await self.db.scalar(
            select(OcpiCommand)
            .where(
                OcpiCommand.partner_id == partner.id,
                OcpiCommand.kind == "RESERVE_NOW",
                OcpiCommand.duplicate_of.is_(None),
                func.lower(OcpiCommand.reservation_id) == reservation_id.lower(),
                OcpiCommand.result.is_(None) | (OcpiCommand.result == ACCEPTED),
            )
            .order_by(OcpiCommand.created_at.desc())
            .limit(1)
        )

    @staticmethod
    def _own_token(partner: OcpiPartner, token: Token) -> Token:
        # 2.2.1: an eMSP "SHALL only use Tokens that are owned by this eMSP".
        if (token.country_code.upper(), token.party_id.upper()) not in partner_parties(partner):
            raise Refused(REJECTED, "the token is not of one of your parties")
        return token

    async def _keep_token(self, partner: OcpiPartner, token: Token) -> None:
        """Store the command's token as one the partner pushed, unless we hold a newer one."""
        key = (token.country_code.upper(), token.party_id.upper(), token.uid, token.type)
        row = await self.db.scalar(
            select(OcpiToken).where(
                OcpiToken.operator_id == partner.operator_id,
                OcpiToken.country_code == key[0],
                OcpiToken.party_id == key[1],
                OcpiToken.uid == key[2],
                OcpiToken.type == key[3],
            )
        )
        updated = utc(token.last_updated)
        if row is not None and row.last_updated > updated:
            return
        if row is None:
            row = OcpiToken(
                operator_id=partner.operator_id,
                partner_id=partner.id,
                country_code=key[0],
                party_id=key[1],
                uid=key[2],
                type=key[3],
            )
            self.db.add(row)
        row.contract_id = token.contract_id
        row.valid = token.valid
        row.whitelist = token.whitelist
        row.data = msgspec.to_builtins(token)
        row.last_updated = updated


async def enqueue_result(
    db: AsyncSession, partner: OcpiPartner, command: OcpiCommand, body: dict[str, Any], now: datetime
) -> None:
    """The result object for the command's response_url, in the caller's transaction."""
    module = "commands" if command.kind in COMMAND_KINDS else "chargingprofiles"
    await enqueue(
        db,
        partner,
        module=module,
        method="POST",
        url=command.response_url,
        body=body,
        object_key=f"command:{command.id}",
        now=now,
    )


COMMAND_KINDS = frozenset({"START_SESSION", "STOP_SESSION", "RESERVE_NOW", "CANCEL_RESERVATION", "UNLOCK_CONNECTOR"})
