"""Smart charging: installed charging profiles and the power limit they put on each connector."""

from __future__ import annotations

from datetime import UTC, datetime

from devtools.simulator import smart
from devtools.simulator.charger.core import ChargerCore
from devtools.simulator.model import Connector


class SmartChargingMixin(ChargerCore):
    """SimulatedCharger's smart charging (see the module docstring)."""

    def set_charging_profile(self, profile: smart.ChargingProfile) -> str:
        """SetChargingProfile: Accepted, or Rejected (no such connector, a station maximum on
        a connector, a TxProfile without that transaction, too high a stack level)."""
        number = profile.connector
        if number != 0 and number not in self.connectors:
            return "Rejected"
        if profile.purpose == smart.EXTERNAL or (profile.purpose == smart.MAX and number != 0):
            return "Rejected"
        if profile.purpose == smart.TX:
            tx = self.connectors[number].transaction if number else None
            if tx is None or profile.transaction_id not in (None, tx.id):
                return "Rejected"
        if self.v16:
            max_stack = self.settings["ChargeProfileMaxStackLevel"].value
        else:
            max_stack = self.variables[("SmartChargingCtrlr", "ProfileStackLevel")].value
        if profile.stack_level > int(max_stack) or not profile.periods:
            return "Rejected"
        self._install_profile(profile)
        return "Accepted"

    def _install_profile(self, profile: smart.ChargingProfile) -> None:
        # The same id, or the same purpose and stack level on the connector, is replaced.
        self.charging_profiles = [
            p
            for p in self.charging_profiles
            if p.id != profile.id
            and not (
                p.connector == profile.connector
                and p.purpose == profile.purpose
                and p.stack_level == profile.stack_level
            )
        ]
        self.charging_profiles.append(profile)

    def clear_charging_profiles(
        self,
        *,
        profile_id: int | None = None,
        connector: int | None = None,
        purpose: str | None = None,
        stack_level: int | None = None,
    ) -> bool:
        """ClearChargingProfile: remove the matching profiles (an id takes precedence over the
        other criteria; none at all clears everything). False when nothing matched."""

        def matches(p: smart.ChargingProfile) -> bool:
            if profile_id is not None:
                return p.id == profile_id
            return (
                (connector is None or p.connector == connector)
                and (purpose is None or p.purpose == smart.PURPOSES.get(purpose, purpose))
                and (stack_level is None or p.stack_level == stack_level)
            )

        keep = [p for p in self.charging_profiles if not matches(p)]
        cleared = len(keep) != len(self.charging_profiles)
        self.charging_profiles = keep
        return cleared

    def _drop_tx_profiles(self, connector: int) -> None:
        """A TxProfile lives as long as its transaction."""
        self.charging_profiles = [
            p for p in self.charging_profiles if not (p.purpose == smart.TX and p.connector == connector)
        ]

    def _refresh_limit(self, conn: Connector) -> None:
        tx, at = conn.transaction, self._aware_now()
        start = tx.started_at if tx is not None else at
        conn.limit_w = smart.limit_w(
            self.charging_profiles,
            conn.id,
            at,
            transaction_id=tx.id if tx is not None else None,
            ref=start if start.tzinfo is not None else start.replace(tzinfo=UTC),
            default_phases=self.config.phases,
        )

    async def _follow_limit(self, conn: Connector) -> bool:
        """Recompute the connector's limit; a limit of 0 suspends charging (SuspendedEVSE)
        until it is lifted. True when the limit changed."""
        before = conn.limit_w
        self._refresh_limit(conn)
        if conn.transaction is not None:
            if conn.limit_w is not None and conn.limit_w <= 0 and conn.status == "Charging":
                conn.suspended_by_limit = True
                await self._set_status(conn, "SuspendedEVSE")
            elif conn.suspended_by_limit and (conn.limit_w is None or conn.limit_w > 0):
                conn.suspended_by_limit = False
                if conn.status == "SuspendedEVSE":
                    await self._set_status(conn, "Charging")
        return conn.limit_w != before

    async def apply_limits(self) -> None:
        """After SetChargingProfile / ClearChargingProfile: the new limits take effect now
        (2.0.1: a TransactionEvent Updated with triggerReason ChargingRateChanged)."""
        for conn in self.connectors.values():
            changed = await self._follow_limit(conn)
            if changed and conn.transaction is not None and not self.v16:
                await self._meter(conn, 0.0, "Sample.Periodic", trigger_reason="ChargingRateChanged")

    def composite_schedule(
        self, connector: int, duration_s: int, unit: str | None
    ) -> tuple[datetime, str, list[smart.Period]]:
        """GetCompositeSchedule: (start, unit, periods) of what will be in force; without any
        profile, one period at what the hardware can deliver."""
        at = self._aware_now()
        conn = self.connectors.get(connector)
        tx = conn.transaction if conn is not None else None
        tx_id = tx.id if tx is not None else None
        if unit is None:
            groups = smart.applicable(self.charging_profiles, connector, tx_id)
            unit = next((p.unit for group in groups for p in group), "W")
        hardware = self._model.max_power_w * (len(self.connectors) if connector == 0 else 1)
        ref = tx.started_at if tx is not None else at
        periods = smart.composite(
            self.charging_profiles,
            connector,
            at,
            duration_s,
            unit=unit,
            transaction_id=tx_id,
            ref=ref if ref.tzinfo is not None else ref.replace(tzinfo=UTC),
            hardware_w=hardware,
            default_phases=self.config.phases,
        )
        return at, unit, periods
