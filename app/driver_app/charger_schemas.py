"""JSON shapes of the driver's view of chargers: search results and a scanned EVSE."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from app.chargers.models import Location
from app.core.http import Page
from app.driver_app.evse_health import ConnectorView, Health
from app.driver_app.finder import EvseDetail, EvseView, LocationHit, Payment

HealthStateOut = Literal["working", "in_use", "reserved", "out_of_order", "offline", "unknown"]


class EvseHealthOut(msgspec.Struct, kw_only=True, rename="camel"):
    state: Annotated[
        HealthStateOut,
        msgspec.Meta(
            description="working (free), in_use, reserved, out_of_order (see reason), offline (see since), "
            "unknown (connected, no status reported yet)"
        ),
    ]
    reason: Annotated[str | None, msgspec.Meta(description="out_of_order: a short plain-language reason")]
    since: Annotated[
        datetime | None,
        msgspec.Meta(description="offline: when the charger was last heard from; else when the status changed"),
    ]

    @classmethod
    def of(cls, h: Health) -> EvseHealthOut:
        return cls(state=h.state, reason=h.reason, since=h.since)


class DriverConnectorOut(msgspec.Struct, kw_only=True, rename="camel"):
    number: int
    standard: Annotated[str, msgspec.Meta(description="OCPI connector standard, e.g. IEC_62196_T2_COMBO")]
    power_type: Annotated[str, msgspec.Meta(description="AC_1_PHASE | AC_3_PHASE | DC")]
    max_kw: float
    status: Annotated[str, msgspec.Meta(description="The OCPP connector status as last reported")]

    @classmethod
    def of(cls, c: ConnectorView) -> DriverConnectorOut:
        return cls(number=c.number, standard=c.standard, power_type=c.power_type, max_kw=c.max_kw, status=c.status)


class DriverEvseOut(msgspec.Struct, kw_only=True, rename="camel"):
    evse_id: Annotated[str, msgspec.Meta(description="eMI3 EVSE ID, e.g. SE*LAD*E0001*1")]
    health: EvseHealthOut
    connectors: list[DriverConnectorOut]
    price_text: Annotated[str | None, msgspec.Meta(description="The price in one line; null: no tariff applies")]

    @classmethod
    def of(cls, e: EvseView) -> DriverEvseOut:
        return cls(
            evse_id=e.evse_id,
            health=EvseHealthOut.of(e.health),
            connectors=[DriverConnectorOut.of(c) for c in e.connectors],
            price_text=e.price_text,
        )


class PlaceOut(msgspec.Struct, kw_only=True, rename="camel"):
    """Where a charger is, for a driver."""

    id: uuid.UUID
    name: str
    address: str
    city: str
    postal_code: str
    country: str
    latitude: float | None
    longitude: float | None
    time_zone: str

    @classmethod
    def of(cls, loc: Location) -> PlaceOut:
        return cls(
            id=loc.id,
            name=loc.name,
            address=loc.address,
            city=loc.city,
            postal_code=loc.postal_code,
            country=loc.country,
            latitude=loc.latitude,
            longitude=loc.longitude,
            time_zone=loc.time_zone,
        )


class NearbyLocationOut(msgspec.Struct, kw_only=True, rename="camel"):
    location: PlaceOut
    distance_m: Annotated[int, msgspec.Meta(description="Great-circle distance from the searched point, metres")]
    evses: Annotated[list[DriverEvseOut], msgspec.Meta(description="The location's EVSEs that match the filters")]

    @classmethod
    def of(cls, hit: LocationHit) -> NearbyLocationOut:
        return cls(
            location=PlaceOut.of(hit.location),
            distance_m=round(hit.distance_km * 1000),
            evses=[DriverEvseOut.of(e) for e in hit.evses],
        )


class NearbyLocationPageOut(Page, kw_only=True, rename="camel"):
    items: list[NearbyLocationOut]


class EvsePaymentOut(msgspec.Struct, kw_only=True, rename="camel"):
    required: Annotated[bool, msgspec.Meta(description="false: no tariff applies, or it charges nothing")]
    hold_amount_minor: Annotated[
        int | None, msgspec.Meta(description="Reserved on the card before the start, minor units of currency")
    ]
    currency: str | None
    methods: Annotated[list[str], msgspec.Meta(description="card, apple_pay, google_pay")]

    @classmethod
    def of(cls, p: Payment) -> EvsePaymentOut:
        return cls(
            required=p.required, hold_amount_minor=p.hold_amount_minor, currency=p.currency, methods=list(p.methods)
        )


class EvseDetailOut(msgspec.Struct, kw_only=True, rename="camel"):
    """What the app shows after scanning an EVSE's QR code."""

    evse_id: str
    health: EvseHealthOut
    connectors: list[DriverConnectorOut]
    price_text: str | None
    location: PlaceOut | None
    payment: EvsePaymentOut
    can_start: bool
    reason: Annotated[
        Literal["offline", "out_of_order", "in_use", "reserved", "unknown"] | None,
        msgspec.Meta(description="Why a session cannot start now; null when it can"),
    ]

    @classmethod
    def of(cls, d: EvseDetail) -> EvseDetailOut:
        evse = DriverEvseOut.of(d.evse)
        return cls(
            evse_id=evse.evse_id,
            health=evse.health,
            connectors=evse.connectors,
            price_text=evse.price_text,
            location=PlaceOut.of(d.location) if d.location is not None else None,
            payment=EvsePaymentOut.of(d.payment),
            can_start=d.can_start,
            reason=d.reason,
        )
