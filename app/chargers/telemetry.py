"""The charger's own reports on the hot path: connect, boot, heartbeat, status, events.

Every method builds its writes as plain statements and hands them to the group-commit
writer, which commits them together with other chargers' writes; the method returns
once its writes are committed (so the bridge replies only after that) and then
publishes its events: one event per fact, so an event-log row another event already
tells (a connect, a boot, a disconnect, a status's error) is not published as
``charger.event`` too. No reads: what the writes need (the charger's id, its EVSE-ID
prefix, whether it is rejected) was learnt at the handshake.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import cast

import msgspec
from sqlalchemy import Table, and_, bindparam, insert, or_, select, update

from app.chargers.events import (
    ChargerBooted,
    ChargerConnected,
    ChargerDisconnected,
    ChargerEventRecorded,
    ConnectorStatusChanged,
)
from app.chargers.models import ChargePoint, ChargerEvent, Connector, ConnectorStatusChange, Evse
from app.chargers.service import ChargerRef
from app.chargers.types import BootInfo, BootResult, ChargerEventIn, StatusReport
from app.core.batching import GroupCommit, Write
from app.core.bus import Bus, Event
from app.core.database import insert_or_ignore, new_id, utcnow

# A heartbeat's one write (when it was last seen) may wait this long for other writes to
# share its commit: an idle network's heartbeats are spread out, and alone each cost a
# transaction (19,000 chargers at 120 s took 0.2 of a core). Its reply waits as long.
HEARTBEAT_SHARE_S = 0.1

# Core tables: the hot path skips the ORM's unit of work.
cp_t = cast(Table, ChargePoint.__table__)
ev_t = cast(Table, ChargerEvent.__table__)
evse_t = cast(Table, Evse.__table__)
conn_t = cast(Table, Connector.__table__)
hist_t = cast(Table, ConnectorStatusChange.__table__)


class _Statements:
    """Built once per dialect: the writer groups units by statement identity."""

    def __init__(self, dialect: str) -> None:
        self.seen = update(cp_t).where(cp_t.c.id == bindparam("cp")).values(last_seen_at=bindparam("now"))
        self.connected = (
            update(cp_t)
            .where(cp_t.c.id == bindparam("cp"))
            .values(connected=bindparam("up"), ocpp_version=bindparam("version"), last_seen_at=bindparam("now"))
        )
        self.disconnected = update(cp_t).where(cp_t.c.id == bindparam("cp")).values(connected=False)
        self.booted = (
            update(cp_t)
            .where(cp_t.c.id == bindparam("cp"))
            .values(
                registration_status=bindparam("status"),
                vendor=bindparam("vendor"),
                model=bindparam("model"),
                serial_number=bindparam("serial_number"),
                firmware_version=bindparam("firmware_version"),
                iccid=bindparam("iccid"),
                imsi=bindparam("imsi"),
                meter_type=bindparam("meter_type"),
                meter_serial_number=bindparam("meter_serial_number"),
                last_boot_at=bindparam("now"),
                last_seen_at=bindparam("now"),
                last_boot_reason=bindparam("reason"),
            )
        )
        self.event = insert(ev_t)
        self.history = insert(hist_t)
        # A status for an EVSE or connector we have not seen creates it (ignored if it exists).
        self.new_evse = insert_or_ignore(dialect, evse_t)
        evse_pk = (
            select(evse_t.c.id)
            .where(evse_t.c.charge_point_id == bindparam("cp"), evse_t.c.evse_number == bindparam("evse"))
            .scalar_subquery()
        )
        self.new_connector = insert_or_ignore(dialect, conn_t).values(
            id=bindparam("id"), evse_pk=evse_pk, connector_number=bindparam("connector")
        )
        # A report older than the one we hold (replayed from the charger's queue) goes
        # to history only.
        self.connector_status = (
            update(conn_t)
            .where(
                conn_t.c.evse_pk == evse_pk,
                conn_t.c.connector_number == bindparam("connector"),
                or_(conn_t.c.status_updated_at.is_(None), conn_t.c.status_updated_at <= bindparam("at")),
            )
            .values(
                status=bindparam("status"),
                error_code=bindparam("error_code"),
                vendor_error_code=bindparam("vendor_error_code"),
                status_updated_at=bindparam("at"),
            )
        )
        self.evse_status = (
            update(evse_t)
            .where(
                and_(evse_t.c.charge_point_id == bindparam("cp"), evse_t.c.evse_number == bindparam("evse")),
                or_(evse_t.c.status_updated_at.is_(None), evse_t.c.status_updated_at <= bindparam("at")),
            )
            .values(status=bindparam("status"), status_updated_at=bindparam("at"))
        )


class ChargerTelemetry:
    def __init__(
        self,
        writer: GroupCommit,
        bus: Bus,
        dialect: str,
        *,
        heartbeat_interval_s: int = 300,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.writer = writer
        self.bus = bus
        self.sql = _Statements(dialect)
        self.heartbeat_interval_s = heartbeat_interval_s
        self.clock = clock

    async def connected(self, charger: ChargerRef, ocpp_version: str) -> None:
        now = self.clock()
        event = ChargerEventIn(kind="connected", at=now, data={"ocppVersion": ocpp_version})
        await self.writer.submit(
            [
                Write(self.sql.connected, {"cp": charger.id, "up": True, "version": ocpp_version, "now": now}),
                self._event_write(charger, event, now),
            ]
        )
        # The log row is not published again as charger.event: charger.connected tells it.
        self._publish(ChargerConnected(identity=charger.identity, ocpp_version=ocpp_version, at=now))

    async def disconnected(self, charger: ChargerRef, reason: str, *, still_connected: bool) -> None:
        """``still_connected``: a newer socket for the same charger replaced this one."""
        now = self.clock()
        event = ChargerEventIn(kind="disconnected", at=now, data={"reason": reason})
        writes = [self._event_write(charger, event, now)]
        if not still_connected:
            writes.insert(0, Write(self.sql.disconnected, {"cp": charger.id}))
        await self.writer.submit(writes)
        # A replaced socket is no disconnection of the charger: its new socket is up (and
        # said so first, so a ChargerDisconnected now would leave it "offline" while online);
        # only charger.event tells of it then.
        if still_connected:
            self._publish(self._recorded(charger, event))
        else:
            self._publish(ChargerDisconnected(identity=charger.identity, at=now, reason=reason))

    async def boot(self, charger: ChargerRef, info: BootInfo) -> BootResult:
        now = self.clock()
        status = "Rejected" if charger.rejected else "Accepted"
        event = ChargerEventIn(kind="boot", at=now, code=info.reason, data=msgspec.to_builtins(info))
        params = {**msgspec.structs.asdict(info), "cp": charger.id, "status": status, "now": now}
        await self.writer.submit([Write(self.sql.booted, params), self._event_write(charger, event, now)])
        # As for a connect: charger.booted tells the row, so no charger.event beside it.
        self._publish(
            ChargerBooted(
                identity=charger.identity,
                vendor=info.vendor,
                model=info.model,
                firmware_version=info.firmware_version,
                reason=info.reason,
                registration_status=status,
                at=now,
            ),
        )
        return BootResult(status=status, current_time=now, interval_s=self.heartbeat_interval_s)

    async def heartbeat(self, charger: ChargerRef) -> datetime:
        now = self.clock()
        await self.writer.submit([Write(self.sql.seen, {"cp": charger.id, "now": now})], may_wait_s=HEARTBEAT_SHARE_S)
        return now

    async def report_status(self, charger: ChargerRef, report: StatusReport) -> None:
        now = self.clock()
        error_code = None if report.error_code in (None, "NoError") else report.error_code
        writes = [
            Write(
                self.sql.history,
                {
                    "charge_point_id": charger.id,
                    "evse_number": report.evse,
                    "connector_number": report.connector,
                    "status": report.status,
                    "error_code": error_code,
                    "vendor_error_code": report.vendor_error_code,
                    "info": report.info,
                    "reported_at": report.at,
                    "received_at": now,
                },
            )
        ]
        if report.evse > 0:
            connector = max(report.connector, 1)
            where = {"cp": charger.id, "evse": report.evse, "connector": connector, "at": report.at}
            writes += [
                Write(
                    self.sql.new_evse,
                    {
                        "id": new_id(),
                        "charge_point_id": charger.id,
                        "evse_number": report.evse,
                        "evse_id": f"{charger.evse_prefix}*{report.evse}",
                    },
                ),
                Write(
                    self.sql.new_connector,
                    {"id": new_id(), "cp": charger.id, "evse": report.evse, "connector": connector},
                ),
                Write(
                    self.sql.connector_status,
                    {
                        **where,
                        "status": report.status,
                        "error_code": error_code,
                        "vendor_error_code": report.vendor_error_code,
                    },
                ),
                Write(self.sql.evse_status, {**where, "status": report.status}),
            ]
        if error_code is not None or report.status == "Faulted":
            error = ChargerEventIn(
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
            )
            writes.append(self._event_write(charger, error, now))
        await self.writer.submit(writes)
        # The error row, if any, is told by this event's error codes.
        self._publish(
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

    async def record_events(self, charger: ChargerRef, events: Sequence[ChargerEventIn]) -> None:
        """The raw event log: NotifyEvent, security events, firmware and upload statuses..."""
        now = self.clock()
        await self.writer.submit([self._event_write(charger, e, now) for e in events])
        self._publish(*(self._recorded(charger, e) for e in events))

    async def record_event(self, charger: ChargerRef, event: ChargerEventIn) -> None:
        await self.record_events(charger, [event])

    def _event_write(self, charger: ChargerRef, e: ChargerEventIn, now: datetime) -> Write:
        return Write(
            self.sql.event,
            {
                "charge_point_id": charger.id,
                "kind": e.kind,
                "code": e.code,
                "evse_number": e.evse,
                "connector_number": e.connector,
                "occurred_at": e.at,
                "received_at": now,
                "data": e.data,
            },
        )

    @staticmethod
    def _recorded(charger: ChargerRef, e: ChargerEventIn) -> ChargerEventRecorded:
        return ChargerEventRecorded(
            identity=charger.identity,
            kind=e.kind,
            code=e.code,
            evse=e.evse,
            connector=e.connector,
            at=e.at,
            data=e.data,
        )

    def _publish(self, *events: Event) -> None:
        for event in events:
            self.bus.publish(event)
