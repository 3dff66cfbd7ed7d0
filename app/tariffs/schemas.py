"""JSON shapes of tariffs, their assignments and price quotes (camelCase on the wire).

Shapes and ranges are checked here (answered ``request.invalid``); the rules between
fields (min <= max, bands that overlap, a known currency...) in ``pricing.validate_terms``
(answered ``tariff.invalid``), both naming the field.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from app.core.http import Page
from app.tariffs.models import Tariff, TariffAssignment
from app.tariffs.pricing import MAX_AMOUNT_MINOR, Price, TariffBand, TariffTerms, price_text
from app.tariffs.service import terms_of

Minor = Annotated[int, msgspec.Meta(ge=0, le=MAX_AMOUNT_MINOR, description="Minor units of the currency, VAT incl.")]
HHMM = Annotated[str, msgspec.Meta(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="Local time HH:MM")]
Weekday = Annotated[int, msgspec.Meta(ge=1, le=7, description="ISO weekday, 1 = Monday")]
Currency = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$", description="ISO 4217, e.g. SEK")]
VatRate = Annotated[int, msgspec.Meta(ge=0, le=10000, description="Basis points: 2500 = 25 %")]
GraceMinutes = Annotated[int, msgspec.Meta(ge=0, le=1440)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True, description="With a UTC offset")]


class BandIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    """Prices from ``start`` to ``end`` on the location's clock. ``start`` after ``end``
    wraps midnight (the band belongs to the day it starts on); equal means 24 hours."""

    start: HHMM
    end: HHMM
    price_per_kwh_minor: Annotated[Minor | None, msgspec.Meta(description="None: the base price")] = None
    price_per_minute_minor: Annotated[Minor | None, msgspec.Meta(description="None: the base price")] = None
    days: Annotated[list[Weekday], msgspec.Meta(description="Empty: every day")] = []

    def band(self) -> TariffBand:
        return TariffBand(
            start=self.start,
            end=self.end,
            price_per_kwh_minor=self.price_per_kwh_minor,
            price_per_minute_minor=self.price_per_minute_minor,
            days=tuple(self.days),
        )


class BandOut(msgspec.Struct, kw_only=True, rename="camel"):
    start: str
    end: str
    price_per_kwh_minor: int | None
    price_per_minute_minor: int | None
    days: list[int]
    label: str

    @classmethod
    def of(cls, b: TariffBand) -> BandOut:
        return cls(
            start=b.start,
            end=b.end,
            price_per_kwh_minor=b.price_per_kwh_minor,
            price_per_minute_minor=b.price_per_minute_minor,
            days=list(b.days),
            label=b.label,
        )


class TariffIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    name: Name
    currency: Currency
    price_per_kwh_minor: Minor = 0
    price_per_minute_minor: Annotated[Minor, msgspec.Meta(description="While energy flows")] = 0
    session_fee_minor: Minor = 0
    idle_fee_per_minute_minor: Annotated[Minor, msgspec.Meta(description="After charging, past the grace")] = 0
    idle_grace_minutes: GraceMinutes = 0
    vat_rate_bp: VatRate
    min_price_minor: Minor | None = None
    max_price_minor: Minor | None = None
    hold_amount_minor: Annotated[Minor, msgspec.Meta(description="Reserved on the card before charging")] = 0
    bands: list[BandIn] = []

    def terms(self) -> TariffTerms:
        return TariffTerms(
            name=self.name,
            currency=self.currency,
            price_per_kwh_minor=self.price_per_kwh_minor,
            price_per_minute_minor=self.price_per_minute_minor,
            session_fee_minor=self.session_fee_minor,
            idle_fee_per_minute_minor=self.idle_fee_per_minute_minor,
            idle_grace_minutes=self.idle_grace_minutes,
            vat_rate_bp=self.vat_rate_bp,
            min_price_minor=self.min_price_minor,
            max_price_minor=self.max_price_minor,
            hold_amount_minor=self.hold_amount_minor,
            bands=tuple(b.band() for b in self.bands),
        )


class TariffPatchIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    """Only the fields sent change; ``null`` clears the minimum or the maximum."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    currency: Currency | msgspec.UnsetType = msgspec.UNSET
    price_per_kwh_minor: Minor | msgspec.UnsetType = msgspec.UNSET
    price_per_minute_minor: Minor | msgspec.UnsetType = msgspec.UNSET
    session_fee_minor: Minor | msgspec.UnsetType = msgspec.UNSET
    idle_fee_per_minute_minor: Minor | msgspec.UnsetType = msgspec.UNSET
    idle_grace_minutes: GraceMinutes | msgspec.UnsetType = msgspec.UNSET
    vat_rate_bp: VatRate | msgspec.UnsetType = msgspec.UNSET
    min_price_minor: Minor | msgspec.UnsetType | None = msgspec.UNSET
    max_price_minor: Minor | msgspec.UnsetType | None = msgspec.UNSET
    hold_amount_minor: Minor | msgspec.UnsetType = msgspec.UNSET
    bands: list[BandIn] | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET

    def changes(self) -> dict[str, Any]:
        result = {f: getattr(self, f) for f in self.__struct_fields__ if getattr(self, f) is not msgspec.UNSET}
        if "bands" in result:
            result["bands"] = [b.band() for b in result["bands"]]
        return result


class TariffOut(msgspec.Struct, kw_only=True, rename="camel"):
    id: uuid.UUID
    operator_id: uuid.UUID | None
    name: str
    currency: str
    price_per_kwh_minor: int
    price_per_minute_minor: int
    session_fee_minor: int
    idle_fee_per_minute_minor: int
    idle_grace_minutes: int
    vat_rate_bp: int
    min_price_minor: int | None
    max_price_minor: int | None
    hold_amount_minor: int
    bands: list[BandOut]
    version: Annotated[int, msgspec.Meta(description="Grows with every change")]
    active: bool
    price_text: Annotated[str, msgspec.Meta(description="The price as a driver reads it before starting")]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, t: Tariff) -> TariffOut:
        terms = terms_of(t)
        return cls(
            id=t.id,
            operator_id=t.operator_id,
            name=t.name,
            currency=t.currency,
            price_per_kwh_minor=t.price_per_kwh_minor,
            price_per_minute_minor=t.price_per_minute_minor,
            session_fee_minor=t.session_fee_minor,
            idle_fee_per_minute_minor=t.idle_fee_per_minute_minor,
            idle_grace_minutes=t.idle_grace_minutes,
            vat_rate_bp=t.vat_rate_bp,
            min_price_minor=t.min_price_minor,
            max_price_minor=t.max_price_minor,
            hold_amount_minor=t.hold_amount_minor,
            bands=[BandOut.of(b) for b in terms.bands],
            version=t.version,
            active=t.active,
            price_text=price_text(terms),
            created_at=t.created_at,
            updated_at=t.updated_at,
        )


class TariffPageOut(Page, kw_only=True, rename="camel"):
    items: list[TariffOut]


class AssignTariffIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    tariff_id: uuid.UUID


class TariffAssignmentOut(msgspec.Struct, kw_only=True, rename="camel"):
    scope: Annotated[str, msgspec.Meta(description="evse | location | operator")]
    target_id: uuid.UUID
    tariff_id: uuid.UUID
    assigned_at: datetime

    @classmethod
    def of(cls, a: TariffAssignment) -> TariffAssignmentOut:
        return cls(scope=a.scope, target_id=a.target_id, tariff_id=a.tariff_id, assigned_at=a.assigned_at)


class EvseTariffOut(msgspec.Struct, kw_only=True, rename="camel"):
    """The tariff a session starting now on this EVSE would get."""

    evse_id: str
    scope: Annotated[str, msgspec.Meta(description="Where it is assigned: evse | location | operator")]
    time_zone: Annotated[str, msgspec.Meta(description="The location's: the clock of the time-of-day bands")]
    price_text: str
    tariff: TariffOut


class QuoteIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    """A hypothetical session: energy delivered evenly over the charging minutes from
    ``startAt``, then ``idleMinutes`` plugged in (grace period included)."""

    energy_kwh: Annotated[float, msgspec.Meta(ge=0, le=10_000)]
    charging_minutes: Annotated[float, msgspec.Meta(ge=0, le=10_080)]
    idle_minutes: Annotated[float, msgspec.Meta(ge=0, le=10_080)] = 0
    start_at: AwareDatetime
    time_zone: Annotated[str, msgspec.Meta(max_length=64, description="IANA zone of the bands' clock")] = (
        "Europe/Stockholm"
    )

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timeZone {self.time_zone!r} is not an IANA time zone") from None


class PriceComponentOut(msgspec.Struct, kw_only=True, rename="camel"):
    kind: Annotated[
        str, msgspec.Meta(description="energy | time | session_fee | idle | minimum_adjustment | cap_adjustment")
    ]
    quantity: Annotated[float, msgspec.Meta(description="kWh for energy, minutes for time and idle, else 1")]
    unit_price_minor: int
    band: Annotated[str | None, msgspec.Meta(description="The time-of-day band; null: the base price")]
    amount_minor: Annotated[int, msgspec.Meta(description="Rounded so that the components add up to the total")]


class PriceOut(msgspec.Struct, kw_only=True, rename="camel"):
    currency: str
    total_minor: Annotated[int, msgspec.Meta(description="What the driver pays, VAT included")]
    net_minor: int
    vat_minor: int
    vat_rate_bp: int
    energy_wh: float
    charging_seconds: float
    idle_seconds: Annotated[float, msgspec.Meta(description="After charging ended, grace period included")]
    components: list[PriceComponentOut]

    @classmethod
    def of(cls, p: Price) -> PriceOut:
        return cls(
            currency=p.currency,
            total_minor=p.total_minor,
            net_minor=p.net_minor,
            vat_minor=p.vat_minor,
            vat_rate_bp=p.vat_rate_bp,
            energy_wh=p.energy_wh,
            charging_seconds=p.charging_seconds,
            idle_seconds=p.idle_seconds,
            components=[
                PriceComponentOut(
                    kind=c.kind,
                    quantity=c.quantity,
                    unit_price_minor=c.unit_price_minor,
                    band=c.band,
                    amount_minor=c.amount_minor,
                )
                for c in p.components
            ],
        )
