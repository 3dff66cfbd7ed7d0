"""OCPI charging profiles <-> the CSMS's charging-profile commands, and a charger's composite
schedule as an OCPI ActiveChargingProfile. Pure: tested in tests/unit/roaming.

OCPI's ChargingProfile was cut from OCPP's: a unit (W total over the phases, or A per phase,
as in OCPP), periods with a start in seconds and a limit, an optional absolute start and a
duration. It becomes a TxProfile of the session's transaction on its EVSE: stack level
TX_STACK_LEVEL, so a partner's newer profile replaces its older one and the station's own
maximum (ChargePointMax) still caps it.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec

from app.roaming.commands.schemas import In, Url, utc
from app.roaming.envelope import InvalidParameters, timestamp

TX_STACK_LEVEL = 1
# OCPP 1.6 ChargingScheduleMaxPeriods is commonly 24 or more; 2.0.1 PeriodsPerSchedule too.
MAX_PERIODS = 1024


class ChargingProfilePeriod(In, frozen=True, kw_only=True):
    start_period: int
    limit: float


class ChargingProfile(In, frozen=True, kw_only=True):
    charging_rate_unit: Literal["W", "A"]
    start_date_time: datetime | None = None
    duration: int | None = None
    min_charging_rate: float | None = None
    charging_profile_period: list[ChargingProfilePeriod] = msgspec.field(default_factory=list)


class SetChargingProfile(In, frozen=True, kw_only=True):
    charging_profile: ChargingProfile
    response_url: Url


def checked(profile: ChargingProfile) -> ChargingProfile:
    """``profile`` if OCPP can carry it, else InvalidParameters (2001) saying why."""
    periods = profile.charging_profile_period
    if not periods:
        raise InvalidParameters("charging_profile_period: at least one period is needed")
    if len(periods) > MAX_PERIODS:
        raise InvalidParameters(f"charging_profile_period: at most {MAX_PERIODS} periods")
    if periods[0].start_period != 0:
        raise InvalidParameters("charging_profile_period: the first period starts at 0")
    starts = [p.start_period for p in periods]
    if any(b <= a for a, b in itertools.pairwise(starts)):
        raise InvalidParameters("charging_profile_period: start_period must increase")
    if any(p.limit < 0 for p in periods):
        raise InvalidParameters("charging_profile_period: limit must not be negative")
    if profile.duration is not None and profile.duration <= 0:
        raise InvalidParameters("duration must be positive")
    if profile.min_charging_rate is not None and profile.min_charging_rate < 0:
        raise InvalidParameters("min_charging_rate must not be negative")
    return profile


def set_profile_args(
    profile: ChargingProfile, *, evse: int, charger_transaction_id: str, profile_id: int
) -> dict[str, Any]:
    """The ``set-charging-profile`` command's arguments (app/chargers/commands.py)."""
    periods = profile.charging_profile_period
    args: dict[str, Any] = {
        "limit": periods[0].limit,
        "unit": profile.charging_rate_unit,
        "evse": evse,
        "profileId": profile_id,
        "stackLevel": TX_STACK_LEVEL,
        "purpose": "Tx",
        "transactionId": charger_transaction_id,
        "periods": [{"startS": p.start_period, "limit": p.limit} for p in periods],
    }
    if profile.start_date_time is not None:
        args["startAt"] = utc(profile.start_date_time).isoformat()
    if profile.duration is not None:
        args["durationS"] = profile.duration
    if profile.min_charging_rate is not None:
        args["minRate"] = profile.min_charging_rate
    return args


def _get(d: dict[str, Any], camel: str, snake: str) -> Any:
    return d.get(camel, d.get(snake))


def _when(raw: Any) -> datetime | None:
    if not isinstance(raw, str):
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def active_profile(answer: dict[str, Any], now: datetime) -> dict[str, Any] | None:
    """The ActiveChargingProfile in a GetCompositeSchedule answer (1.6 ``chargingSchedule``,
    2.0.1 ``schedule``), or None when it has no schedule."""
    schedule = _get(answer, "chargingSchedule", "charging_schedule") or answer.get("schedule")
    if not isinstance(schedule, dict):
        return None
    raw_periods = _get(schedule, "chargingSchedulePeriod", "charging_schedule_period") or []
    periods = [
        {"start_period": int(_get(p, "startPeriod", "start_period")), "limit": round(float(p["limit"]), 1)}
        for p in raw_periods
        if isinstance(p, dict) and _get(p, "startPeriod", "start_period") is not None and "limit" in p
    ]
    unit = _get(schedule, "chargingRateUnit", "charging_rate_unit")
    if unit not in ("W", "A"):
        return None
    start = (
        _when(_get(answer, "scheduleStart", "schedule_start"))
        or _when(_get(schedule, "scheduleStart", "schedule_start"))
        or _when(_get(schedule, "startSchedule", "start_schedule"))
        or now
    )
    profile: dict[str, Any] = {"charging_rate_unit": unit, "charging_profile_period": periods}
    duration = schedule.get("duration")
    if isinstance(duration, int):
        profile["duration"] = duration
    min_rate = _get(schedule, "minChargingRate", "min_charging_rate")
    if isinstance(min_rate, int | float):
        profile["min_charging_rate"] = round(float(min_rate), 1)
    return {"start_date_time": timestamp(start), "charging_profile": profile}
