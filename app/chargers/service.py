"""Charger services: registration, handshake authentication, locations.

The charger's own reports (boot, heartbeat, status, events) are in ``telemetry.py``.

Both services take the tenant they act for (``tenant_id``): an operator request's, so every
read and change stays inside that operator company's network; ``None`` is the system's own
view (the bridge, the CLI without ``--tenant``), never an operator request's.

Each public method owns its database transaction and publishes its events after commit.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence

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
)
from app.chargers.events import ChargerCredentialsChanged, LocationChanged
from app.chargers.models import (
    ChargePoint,
    Connector,
    Evse,
    Location,
    charger_owner,
)
from app.chargers.passwords import validate_charger_password
from app.core.bus import Bus
from app.core.database import SelectT, claim, next_number, scoped
from app.core.security import charger_hash_is_current, hash_charger_password, in_kdf_pool, verify_charger_password
from app.operators.models import Operator

# OCPP identities travel in the URL path and as the Basic-auth user name: no ':' and
# nothing that needs escaping.
IDENTITY_PATTERN = re.compile(r"^[A-Za-z0-9._~*-]{1,48}$")
DEFAULT_COUNTRY, DEFAULT_PARTY = "SE", "LAD"


class ChargerRef(msgspec.Struct, frozen=True):
    """The charger a bridge connection speaks for, with what its hot path needs to know."""

    id: uuid.UUID
    identity: str
    # eMI3 prefix of its EVSE IDs, e.g. "SE*LAD*E0001": new EVSEs are named without a query.
    evse_prefix: str = ""
    # Registration refused by an operator: its BootNotification is answered Rejected.
    rejected: bool = False
    # The boot-time configuration it last accepted (see ocpp_bridge/boot_config.py).
    boot_config_hash: str | None = None


class ChargerCredentials(msgspec.Struct, frozen=True):
    password_hash: str
    ref: ChargerRef

    @property
    def slow(self) -> bool:
        """Stored in the older argon2id format: slow to check, and due for an upgrade
        (app/chargers/credentials.py)."""
        return not charger_hash_is_current(self.password_hash)


async def check_credentials(found: ChargerCredentials | None, password: str | None) -> ChargerRef:
    """The charger, if ``password`` is its own; ChargerNotFound / ChargerAuthFailed if not.
    A current hash checks in microseconds, on the loop; an older argon2id one in the KDF
    thread pool, as it is slow (the caller bounds how many wait: ``found.slow``)."""
    if found is None:
        raise ChargerNotFound()
    if password is None:
        raise ChargerAuthFailed("credentials required")
    if found.slow:
        verified = await in_kdf_pool(verify_charger_password, found.password_hash, password)
    else:
        verified = verify_charger_password(found.password_hash, password)
    if not verified:
        raise ChargerAuthFailed("wrong password")
    return found.ref


def _matching(stmt: SelectT, query: str | None) -> SelectT:
    """Chargers whose identity, "vendor model" or location name contains ``query``."""
    text = (query or "").strip().lower()
    if not text:
        return stmt
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped}%"
    vendor_model = func.coalesce(ChargePoint.vendor, "").concat(" ").concat(func.coalesce(ChargePoint.model, ""))
    location_names = select(Location.id).where(func.lower(Location.name).like(pattern, escape="\\"))
    return stmt.where(
        func.lower(ChargePoint.identity).like(pattern, escape="\\")
        | func.lower(vendor_model).like(pattern, escape="\\")
        | ChargePoint.location_id.in_(location_names)
    )


def evse_prefix(country: str, party: str, number: int) -> str:
    return f"{country}*{party}*E{number:04d}"


def validate_identity(identity: str) -> None:
    if not IDENTITY_PATTERN.fullmatch(identity):
        raise InvalidChargerIdentity(f"{identity!r}: 1-48 characters of A-Z a-z 0-9 . _ ~ * -", field="identity")


class ChargerService:
    def __init__(self, db: AsyncSession, bus: Bus, *, tenant_id: uuid.UUID | None = None) -> None:
        self.db = db
        self.bus = bus
        self.tenant_id = tenant_id

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
        """Register a charger of the tenant (at one of its locations, when given; another
        tenant's location is LocationNotFound). In the system's view the charger belongs to
        its location's operator. EVSEs can be declared now or appear with its first status."""
        validate_identity(identity)
        validate_charger_password(password)
        operator_id = self.tenant_id
        if location_id is not None:
            stmt = select(Location).where(Location.id == location_id)
            location = await self.db.scalar(scoped(stmt, Location.operator_id, self.tenant_id))
            if location is None:
                raise LocationNotFound(field="locationId")
            operator_id = location.operator_id
        exists = await self.db.scalar(select(ChargePoint.id).where(ChargePoint.identity == identity))
        if exists is not None:
            raise ChargerAlreadyExists(f"{identity!r} is already registered")
        password_hash = hash_charger_password(password)
        cp = ChargePoint(
            identity=identity,
            number=await next_number(self.db, "charge_point"),
            password_hash=password_hash,
            operator_id=operator_id,
            location_id=location_id,
        )
        self.db.add(cp)
        await self.db.flush()
        for n in range(1, evse_count + 1):
            await self._ensure_evse(cp, n, 1, max_kw=max_kw, power_type=power_type, standard=standard)
        await self.db.commit()
        if location_id is not None:
            self.bus.publish(LocationChanged(location_id=location_id, operator_id=operator_id, at=cp.created_at))
        return cp

    async def set_password(self, identity: str, password: str) -> None:
        validate_charger_password(password)
        password_hash = hash_charger_password(password)
        changed = await claim(
            self.db, update(ChargePoint).where(ChargePoint.identity == identity).values(password_hash=password_hash)
        )
        if not changed:
            raise ChargerNotFound(identity)
        await self.db.commit()
        self.bus.publish(ChargerCredentialsChanged(identity=identity))

    async def list(self, *, limit: int = 100, offset: int = 0, query: str | None = None) -> Sequence[ChargePoint]:
        """In registration order; ``query``: only those whose identity, vendor, model or
        location name contains it (any case)."""
        stmt = (
            select(ChargePoint)
            .options(selectinload(ChargePoint.evses).selectinload(Evse.connectors))
            .order_by(ChargePoint.number)
            .limit(limit)
            .offset(offset)
        )
        return (await self.db.scalars(self._scoped(_matching(stmt, query)))).all()

    async def count(self, *, query: str | None = None) -> int:
        stmt = select(func.count()).select_from(ChargePoint)
        return int(await self.db.scalar(self._scoped(_matching(stmt, query))) or 0)

    async def get(self, charge_point_id: uuid.UUID) -> ChargePoint:
        stmt = (
            select(ChargePoint)
            .where(ChargePoint.id == charge_point_id)
            .options(selectinload(ChargePoint.evses).selectinload(Evse.connectors))
        )
        cp = await self.db.scalar(self._scoped(stmt))
        if cp is None:
            raise ChargerNotFound()
        return cp

    async def get_by_identity(self, identity: str) -> ChargePoint:
        stmt = (
            select(ChargePoint)
            .where(ChargePoint.identity == identity)
            .options(selectinload(ChargePoint.evses).selectinload(Evse.connectors))
        )
        cp = await self.db.scalar(self._scoped(stmt))
        if cp is None:
            raise ChargerNotFound()
        return cp

    def _scoped(self, stmt: SelectT) -> SelectT:
        return scoped(stmt, ChargePoint.operator_id, self.tenant_id)

    # -- the charger's side (called by the bridge) ---------------------------------

    async def authenticate(self, identity: str, password: str | None) -> ChargerRef:
        """Check HTTP Basic credentials at the WebSocket handshake.

        Raises ChargerNotFound for an unknown identity, ChargerAuthFailed otherwise.
        """
        rows = await self.credentials([identity])
        # Give the connection back before an older, deliberately slow hash: on SQLite it is
        # the only one, and the writers answering connected chargers need it meanwhile.
        await self.db.rollback()
        return await check_credentials(rows.get(identity), password)

    async def credentials(self, identities: Sequence[str]) -> dict[str, ChargerCredentials]:
        """What checking these chargers' passwords needs, in one query (a storm of first
        connections is looked up in batches: ocpp_bridge/credentials.py)."""
        rows = await self.db.execute(
            select(
                ChargePoint.identity,
                ChargePoint.id,
                ChargePoint.password_hash,
                ChargePoint.number,
                ChargePoint.registration_status,
                ChargePoint.boot_config_hash,
                Operator.country_code,
                Operator.party_id,
            )
            .outerjoin(Location, Location.id == ChargePoint.location_id)
            .outerjoin(Operator, Operator.id == charger_owner())
            .where(ChargePoint.identity.in_(identities))
        )
        return {
            row.identity: ChargerCredentials(
                password_hash=row.password_hash,
                ref=ChargerRef(
                    row.id,
                    row.identity,
                    evse_prefix=evse_prefix(
                        row.country_code or DEFAULT_COUNTRY, row.party_id or DEFAULT_PARTY, row.number
                    ),
                    rejected=row.registration_status == "Rejected",
                    boot_config_hash=row.boot_config_hash,
                ),
            )
            for row in rows
        }

    # -- helpers ----------------------------------------------------------------

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
                evse_id=f"{evse_prefix(country, party, cp.number)}*{evse_number}",
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

    async def _operator_prefix(self, cp: ChargePoint) -> tuple[str, str]:
        """The owner's country and party id: the charger's operator, else its location's."""
        operator_id = cp.operator_id
        if operator_id is None and cp.location_id is not None:
            operator_id = await self.db.scalar(select(Location.operator_id).where(Location.id == cp.location_id))
        if operator_id is None:
            return DEFAULT_COUNTRY, DEFAULT_PARTY
        row = (
            await self.db.execute(select(Operator.country_code, Operator.party_id).where(Operator.id == operator_id))
        ).one_or_none()
        return (row.country_code, row.party_id) if row else (DEFAULT_COUNTRY, DEFAULT_PARTY)


class LocationService:
    """``bus``: where LocationChanged goes after a change (None: nobody is told, e.g. the
    demo seed before anything listens)."""

    def __init__(self, db: AsyncSession, *, tenant_id: uuid.UUID | None = None, bus: Bus | None = None) -> None:
        self.db = db
        self.tenant_id = tenant_id
        self.bus = bus

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
        """A new location of the tenant (of ``operator_id`` in the system's view)."""
        if self.tenant_id is not None:
            operator_id = self.tenant_id
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
        if self.bus is not None:
            self.bus.publish(LocationChanged(location_id=location.id, operator_id=operator_id, at=location.created_at))
        return location

    async def list(self, *, limit: int = 100, offset: int = 0) -> Sequence[Location]:
        stmt = select(Location).order_by(Location.created_at, Location.id).limit(limit).offset(offset)
        return (await self.db.scalars(self._scoped(stmt))).all()

    async def count(self) -> int:
        return int(await self.db.scalar(self._scoped(select(func.count()).select_from(Location))) or 0)

    async def get(self, location_id: uuid.UUID) -> Location:
        location = await self.db.scalar(self._scoped(select(Location).where(Location.id == location_id)))
        if location is None:
            raise LocationNotFound()
        return location

    async def find_by_name(self, name: str) -> Location | None:
        return await self.db.scalar(self._scoped(select(Location).where(Location.name == name)).limit(1))

    def _scoped(self, stmt: SelectT) -> SelectT:
        return scoped(stmt, Location.operator_id, self.tenant_id)
