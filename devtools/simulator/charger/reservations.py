"""Reservations: ReserveNow, CancelReservation and their expiry."""

from __future__ import annotations

import asyncio
import logging

from ocpp.v201 import call as call201

from devtools.simulator.charger.core import ChargerCore
from devtools.simulator.model import Connector, Reservation

log = logging.getLogger("laddnat.simulator")


class ReservationsMixin(ChargerCore):
    """SimulatedCharger's reservations (see the module docstring)."""

    def find_reservation(self, reservation_id: int) -> Connector | None:
        for conn in self.connectors.values():
            if conn.reservation is not None and conn.reservation.id == reservation_id:
                return conn
        return None

    def reservation_problem(self, conn: Connector) -> str | None:
        """The ReserveNow status when ``conn`` cannot be reserved now, else None."""
        if conn.status == "Faulted":
            return "Faulted"
        if not conn.operative or conn.status == "Unavailable":
            return "Unavailable"
        if conn.busy or conn.status not in ("Available", "Reserved"):
            return "Occupied"
        return None

    def reserve(self, conn: Connector, reservation: Reservation) -> str:
        """ReserveNow on ``conn``: Accepted (a reservation with the same id is replaced),
        Occupied / Faulted / Unavailable. Statuses follow via :meth:`sync_reservations`."""
        if conn.reservation is not None and conn.reservation.id != reservation.id:
            return "Occupied"
        problem = self.reservation_problem(conn)
        if problem is not None:
            return problem
        self._drop_reservation(reservation.id)
        conn.reservation = reservation
        return "Accepted"

    def cancel_reservation(self, reservation_id: int) -> bool:
        return self._drop_reservation(reservation_id) is not None

    def _drop_reservation(self, reservation_id: int) -> Connector | None:
        timer = self._reservation_timers.pop(reservation_id, None)
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()
        conn = self.find_reservation(reservation_id)
        if conn is not None:
            conn.reservation = None
        return conn

    async def sync_reservations(self) -> None:
        """After ReserveNow / CancelReservation: Reserved / Available on the wire, expiry timers."""
        for conn in self.connectors.values():
            res = conn.reservation
            if res is not None and res.id not in self._reservation_timers:
                self._reservation_timers[res.id] = asyncio.create_task(
                    self._guard(self._expire_reservation(conn.id, res), "reservation expiry")
                )
            if not conn.busy and conn.status in ("Available", "Reserved"):
                await self._set_status(conn, self._idle_status(conn))

    async def _expire_reservation(self, connector: int, reservation: Reservation) -> None:
        await asyncio.sleep(max(0.0, (reservation.expiry - self._aware_now()).total_seconds()))
        conn = self.connectors[connector]
        if conn.reservation is not reservation:
            return
        self._drop_reservation(reservation.id)
        log.info("%s: reservation %d expired", self.identity, reservation.id)
        if not self.v16 and self.online:
            await self.call(
                call201.ReservationStatusUpdate(reservation_id=reservation.id, reservation_update_status="Expired")
            )
        if not conn.busy and conn.status == "Reserved":
            await self._set_status(conn, self._idle_status(conn))
