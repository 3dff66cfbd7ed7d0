"""Charger services: registration, the charger's own reports, locations.

Each public method owns its database transaction and publishes its events after commit.
"""

from __future__ import annotations

import asyncio
import builtins
import re
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime

import msgspec
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.chargers.errors import (
    ChargerAlreadyExists,
    ChargerAuthFailed,
    ChargerNotFound,
    InvalidChargerIdentity,
    LocationNotFound,
    WeakChargerPassword,
)
from app.chargers.events import (
    ChargerBooted,
    ChargerConnected,
    ChargerDisconnected,
    ChargerEventRecorded,
    ConnectorStatusChanged,
)
from app.chargers.models import (
    ChargePoint,
    ChargerEvent,
    Connector,
    ConnectorStatusChange,
    Evse,
    Location,
)
from app.chargers.types import BootInfo, BootResult, ChargerEventIn, StatusReport
from app.core.bus import Bus, Event
from app.core.database import next_number, utcnow
from app.core.security import hash_charger_password, verify_charger_password
from app.operators.models import Operator

# OCPP identities travel in the URL path and as the Basic-auth user name: no ':' and
# nothing that needs escaping.
IDENTITY_PATTERN = re.compile(r"^[A-Za-z0-9._~*-]{1,48}$")
DEFAULT_COUNTRY, DEFAULT_PARTY = "SE", "LAD"


class ChargerRef(msgspec.Struct, frozen=True):
    """The charger a bridge connection speaks for."""

    id: uuid.UUID
    identity: str


def validate_identity(identity: str) -> None:
    if not IDENTITY_PATTERN.fullmatch(identity):
        raise InvalidChargerIdentity(f"{identity!r}: 1-48 characters of A-Z a-z 0-9 . _ ~ * -", field="identity")


def validate_charger_password(password: str) -> None:
    if not 16 <= len(password) <= 40:
        raise WeakChargerPassword(field="password")


class ChargerService:
    def __init__(
        self,
        db: AsyncSession,
        bus: Bus,
        *,
        heartbeat_interval_s: int = 300,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.bus = bus
        self.heartbeat_interval_s = heartbeat_interval_s
        self.clock = clock

    # -- operator side ------------------------------------------------------------

    async def register(
        self,
        identity: str,
        password: str,
        *,
        location_id: uuid.UUID | None = None,
        evse_count: int = 0,
        max_kw: float = 22.0,
        power_type: str = "AC_3_PHASE",
        standard: str = "IEC_62196_T2",
    ) -> ChargePoint:
        """Register a charger. EVSEs can be declared now or appear with its first status."""
        validate_identity(identity)
        validate_charger_password(password)
        if location_id is not None and await self.db.get(Location, location_id) is None:
            raise LocationNotFound(field="locationId")
        exists = await self.db.scalar(select(ChargePoint.id).where(ChargePoint.identity == identity))
        if exists is not None:
            raise ChargerAlreadyExists(f"{identity!r} is already registered")
        password_hash = await asyncio.to_thread(hash_charger_password, password)
        cp = ChargePoint(
            identity=identity,
            number=await next_number(self.db, "charge_point"),
            password_hash=password_hash,
            location_id=location_id,
        )
        self.db.add(cp)
        await self.db.flush()
        for n in range(1, evse_count + 1):
            await self._ensure_evse(cp, n, 1, max_kw=max_kw, power_type=power_type, standard=standard)
        await self.db.commit()
        return cp

    async def set_password(self, identity: str, password: str) -> None:
        validate_charger_password(password)
        password_hash = await asyncio.to_thread(hash_charger_password, password)
        result = await self.db.execute(
            update(ChargePoint).where(ChargePoint.identity == identity).values(password_hash=password_hash)
        )
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise ChargerNotFound(identity)
        await self.db.commit()

    async def list(self, *, limit: int = 100, offset: int = 0) -> Sequence[ChargePoint]:
        stmt = (
            select(ChargePoint)
            .options(selectinload(ChargePoint.evses).selectinload(Evse.connectors))
            .order_by(ChargePoint.number)
            .limit(limit)
            .offset(offset)
        )
        return (await self.db.scalars(stmt)).all()

    async def count(self) -> int:
        return int(await self.db.scalar(select(func.count()).select_from(ChargePoint)) or 0)

    async def get(self, charge_point_id: uuid.UUID) -> ChargePoint:
        stmt = (
            select(ChargePoint)
            .where(ChargePoint.id == charge_point_id)
            .options(selectinload(ChargePoint.evses).selectinload(Evse.connectors))
        )
        cp = await self.db.scalar(stmt)
        if cp is None:
            raise ChargerNotFound()
        return cp

    async def get_by_identity(self, identity: str) -> ChargePoint:
        stmt = (
            select(ChargePoint)
            .where(ChargePoint.identity == identity)
            .options(selectinload(ChargePoint.evses).selectinload(Evse.connectors))
        )
        cp = await self.db.scalar(stmt)
        if cp is None:
            raise ChargerNotFound()
        return cp

    # -- the charger's side (called by the bridge) ---------------------------------

    async def authenticate(self, identity: str, password: str | None) -> ChargerRef:
        """Check HTTP Basic credentials at the WebSocket handshake.

        Raises ChargerNotFound for an unknown identity, ChargerAuthFailed otherwise.
        """
        row = (
            await self.db.execute(
                select(ChargePoint.id, ChargePoint.password_hash).where(ChargePoint.identity == identity)
            )
        ).one_or_none()
        if row is None:
            raise ChargerNotFound()
        if password is None:
            raise ChargerAuthFailed("credentials required")
        ok = await asyncio.to_thread(verify_charger_password, row.password_hash, password)
        if not ok:
            raise ChargerAuthFailed("wrong password")
        return ChargerRef(row.id, identity)

    async def connected(self, charger: ChargerRef, ocpp_version: str) -> None:
        now = self.clock()
        await self.db.execute(
            update(ChargePoint)
            .where(ChargePoint.id == charger.id)
            .values(connected=True, ocpp_version=ocpp_version, last_seen_at=now)
        )
        self._log(charger, ChargerEventIn(kind="connected", at=now, data={"ocppVersion": ocpp_version}))
        await self._commit(ChargerConnected(identity=charger.identity, ocpp_version=ocpp_version, at=now))

    async def disconnected(self, charger: ChargerRef, reason: str, *, still_connected: bool) -> None:
        """``still_connected``: a newer socket for the same charger replaced this one."""
        now = self.clock()
        if not still_connected:
            await self.db.execute(update(ChargePoint).where(ChargePoint.id == charger.id).values(connected=False))
        self._log(charger, ChargerEventIn(kind="disconnected", at=now, data={"reason": reason}))
        await self._commit(ChargerDisconnected(identity=charger.identity, at=now, reason=reason))

    async def boot(self, charger: ChargerRef, info: BootInfo) -> BootResult:
        now = self.clock()
        cp = await self.db.get(ChargePoint, charger.id)
        if cp is None:
            raise ChargerNotFound()
        status = "Rejected" if cp.registration_status == "Rejected" else "Accepted"
        cp.registration_status = status
        cp.vendor, cp.model = info.vendor, info.model
        cp.serial_number = info.serial_number
        cp.firmware_version = info.firmware_version
        cp.iccid, cp.imsi = info.iccid, info.imsi
        cp.meter_type, cp.meter_serial_number = info.meter_type, info.meter_serial_number
        cp.last_boot_at = cp.last_seen_at = now
        cp.last_boot_reason = info.reason
        self._log(charger, ChargerEventIn(kind="boot", at=now, code=info.reason, data=msgspec.to_builtins(info)))
        await self._commit(
            ChargerBooted(
                identity=charger.identity,
                vendor=info.vendor,
                model=info.model,
                firmware_version=info.firmware_version,
                reason=info.reason,
                registration_status=status,
                at=now,
            )
        )
        return BootResult(status=status, current_time=now, interval_s=self.heartbeat_interval_s)

    async def heartbeat(self, charger: ChargerRef) -> datetime:
        now = self.clock()
        await self.db.execute(update(ChargePoint).where(ChargePoint.id == charger.id).values(last_seen_at=now))
        await self.db.commit()
        return now

    async def report_status(self, charger: ChargerRef, report: StatusReport) -> None:
        now = self.clock()
        error_code = None if report.error_code in (None, "NoError") else report.error_code
        self.db.add(
            ConnectorStatusChange(
                charge_point_id=charger.id,
                evse_number=report.evse,
                connector_number=report.connector,
                status=report.status,
                error_code=error_code,
                vendor_error_code=report.vendor_error_code,
                info=report.info,
                reported_at=report.at,
                received_at=now,
            )
        )
        if report.evse > 0:
            cp = await self.db.get(ChargePoint, charger.id)
            assert cp is not None
            evse = await self._ensure_evse(cp, report.evse, max(report.connector, 1))
            connector = await self._ensure_connector(evse, max(report.connector, 1))
            # An older report (replayed from the charger's queue) goes to history
            # but must not overwrite a newer live status.
            if connector.status_updated_at is None or connector.status_updated_at <= report.at:
                connector.status = report.status
                connector.error_code = error_code
                connector.vendor_error_code = report.vendor_error_code
                connector.status_updated_at = report.at
                evse.status, evse.status_updated_at = report.status, report.at
        if error_code is not None or report.status == "Faulted":
            self._log(
                charger,
                ChargerEventIn(
                    kind="error",
                    at=report.at,
                    code=error_code or "Faulted",
                    evse=report.evse,
                    connector=report.connector,
                    data={
                        "status": report.status,
                        "errorCode": report.error_code,
                        "vendorErrorCode": report.vendor_error_code,
                        "info": report.info,
                    },
                ),
            )
        await self._commit(
            ConnectorStatusChanged(
                identity=charger.identity,
                evse=report.evse,
                connector=report.connector,
                status=report.status,
                error_code=error_code,
                vendor_error_code=report.vendor_error_code,
                info=report.info,
                at=report.at,
            )
        )

    async def record_event(self, charger: ChargerRef, event: ChargerEventIn) -> None:
        self._log(charger, event)
        await self._commit()

    async def record_events(self, charger: ChargerRef, events: Sequence[ChargerEventIn]) -> None:
        """Several events of one message (a NotifyEvent carries many), one transaction."""
        for event in events:
            self._log(charger, event)
        await self._commit()

    # -- helpers ----------------------------------------------------------------

    def _log(self, charger: ChargerRef, event: ChargerEventIn) -> None:
        self.db.add(
            ChargerEvent(
                charge_point_id=charger.id,
                kind=event.kind,
                code=event.code,
                evse_number=event.evse,
                connector_number=event.connector,
                occurred_at=event.at,
                received_at=self.clock(),
                data=event.data,
            )
        )
        self._pending_events.append(
            ChargerEventRecorded(
                identity=charger.identity,
                kind=event.kind,
                code=event.code,
                evse=event.evse,
                connector=event.connector,
                at=event.at,
                data=event.data,
            )
        )

    @property
    def _pending_events(self) -> builtins.list[Event]:
        pending: builtins.list[Event] | None = self.db.info.get("pending_events")
        if pending is None:
            pending = self.db.info["pending_events"] = []
        return pending

    async def _commit(self, *events: Event) -> None:
        """Commit, then publish: subscribers never see what the database might not keep."""
        await self.db.commit()
        pending = self.db.info.pop("pending_events", [])
        for event in (*pending, *events):
            self.bus.publish(event)

    async def _ensure_evse(
        self,
        cp: ChargePoint,
        evse_number: int,
        connector_number: int,
        *,
        max_kw: float = 22.0,
        power_type: str = "AC_3_PHASE",
        standard: str = "IEC_62196_T2",
    ) -> Evse:
        evse = await self.db.scalar(select(Evse).where(Evse.charge_point_id == cp.id, Evse.evse_number == evse_number))
        if evse is None:
            country, party = await self._operator_prefix(cp)
            evse = Evse(
                charge_point_id=cp.id,
                evse_number=evse_number,
                evse_id=f"{country}*{party}*E{cp.number:04d}*{evse_number}",
            )
            self.db.add(evse)
            await self.db.flush()
            self.db.add(
                Connector(
                    evse_pk=evse.id,
                    connector_number=connector_number,
                    max_kw=max_kw,
                    power_type=power_type,
                    standard=standard,
                )
            )
            await self.db.flush()
        return evse

    async def _ensure_connector(self, evse: Evse, connector_number: int) -> Connector:
        connector = await self.db.scalar(
            select(Connector).where(Connector.evse_pk == evse.id, Connector.connector_number == connector_number)
        )
        if connector is None:
            connector = Connector(evse_pk=evse.id, connector_number=connector_number)
            self.db.add(connector)
            await self.db.flush()
        return connector

    async def _operator_prefix(self, cp: ChargePoint) -> tuple[str, str]:
        if cp.location_id is None:
            return DEFAULT_COUNTRY, DEFAULT_PARTY
        row = (
            await self.db.execute(
                select(Operator.country_code, Operator.party_id)
                .join(Location, Location.operator_id == Operator.id)
                .where(Location.id == cp.location_id)
            )
        ).one_or_none()
        return (row.country_code, row.party_id) if row else (DEFAULT_COUNTRY, DEFAULT_PARTY)


class LocationService:
    def __init__(self, db: AsyncSession) -> None:
        self.db = db

    async def create(
        self,
        *,
        name: str,
        address: str = "",
        city: str = "",
        postal_code: str = "",
        country: str = "SWE",
        latitude: float | None = None,
        longitude: float | None = None,
        time_zone: str = "Europe/Stockholm",
        operator_id: uuid.UUID | None = None,
    ) -> Location:
        location = Location(
            name=name,
            address=address,
            city=city,
            postal_code=postal_code,
            country=country,
            latitude=latitude,
            longitude=longitude,
            time_zone=time_zone,
            operator_id=operator_id,
        )
        self.db.add(location)
        await self.db.commit()
        return location

    async def list(self, *, limit: int = 100, offset: int = 0) -> Sequence[Location]:
        stmt = select(Location).order_by(Location.created_at, Location.id).limit(limit).offset(offset)
        return (await self.db.scalars(stmt)).all()

    async def count(self) -> int:
        return int(await self.db.scalar(select(func.count()).select_from(Location)) or 0)

    async def get(self, location_id: uuid.UUID) -> Location:
        location = await self.db.get(Location, location_id)
        if location is None:
            raise LocationNotFound()
        return location

    async def find_by_name(self, name: str) -> Location | None:
        return await self.db.scalar(select(Location).where(Location.name == name))
