"""One small detector per kind of trouble; each is pure (no DB, no bus) and tested alone."""

from __future__ import annotations

from app.core.settings import HealthSettings
from app.health.detectors.anomaly import AnomalyDetector
from app.health.detectors.base import Clock, Detector, Where
from app.health.detectors.boot import BootDetector
from app.health.detectors.errors import ReportedErrorDetector
from app.health.detectors.metering import MeteringDetector
from app.health.detectors.offline import OfflineDetector
from app.health.detectors.power import LowPowerDetector
from app.health.detectors.sessions import SessionDetector
from app.health.detectors.supply import SupplyDetector
from app.health.detectors.thermal import ThermalDetector

__all__ = [
    "AnomalyDetector",
    "BootDetector",
    "Clock",
    "Detector",
    "LowPowerDetector",
    "MeteringDetector",
    "OfflineDetector",
    "ReportedErrorDetector",
    "SessionDetector",
    "SupplyDetector",
    "ThermalDetector",
    "Where",
    "raised_sets",
]


def raised_sets(detectors: list[Detector]) -> dict[str, set[Where]]:
    """kind (or kind:topic, where two detectors share a kind) -> the raised-conditions set
    of the detector emitting it, so a restart can mark the open incidents' conditions
    raised and their recovery still clears them."""
    kinds = {
        ReportedErrorDetector: ("reported_error",),
        ThermalDetector: ("overheating",),
        SupplyDetector: ("power_supply",),
        LowPowerDetector: ("power_supply:low_power",),
        MeteringDetector: ("metering",),
        SessionDetector: ("failed_starts", "vehicle_communication"),
        BootDetector: ("boot_loop", "firmware"),
        AnomalyDetector: ("anomaly",),
    }
    out: dict[str, set[Where]] = {}
    for detector in detectors:
        for kind in kinds.get(type(detector), ()):  # type: ignore[call-overload]
            out[kind] = detector.raised  # type: ignore[attr-defined]
    return out


def build(
    settings: HealthSettings, heartbeat_interval_s: float, clock: Clock
) -> tuple[OfflineDetector, list[Detector]]:
    offline = OfflineDetector(settings, heartbeat_interval_s, clock)
    anomaly: list[Detector] = [AnomalyDetector(settings, clock)] if settings.anomaly_enabled else []
    low_power = LowPowerDetector(settings, clock)
    return offline, [
        offline,
        # A protection trip's evidence compares the current with the EVSE's rating.
        ReportedErrorDetector(clock, settings.unexplained_fault_wait_s, ratings=low_power.rated_w),
        ThermalDetector(settings, clock),
        SupplyDetector(settings, clock),
        low_power,
        MeteringDetector(settings, clock),
        SessionDetector(settings, clock),
        BootDetector(settings, clock),
        *anomaly,
    ]
