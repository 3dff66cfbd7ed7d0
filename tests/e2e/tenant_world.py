"""Two operator companies (tenants) on one database, for the tenant isolation walk.

Tenant Y owns one of everything an operator can own, written through the ORM (fixture data,
as in test_payment_documents.py): a location, a charger with an EVSE and a connector, a
tariff assigned to that EVSE, location and operator, an operator card, a fleet account with
a card and an invoice, a priced transaction with meter samples, a captured payment with a
refund and an open hold, an incident, an uptime exclusion, a command log entry, an uploaded
diagnostics file, a webhook endpoint with a delivery, an API key, an audit entry and an OCPI
roaming partner with a push.

Tenant X has its own admin and a few resources of its own, so that its lists are not
trivially empty. Every value that identifies Y is distinctive (``ynet``, seven-digit
amounts), so a response can be searched for it without false alarms.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.billing.models import FleetAccount, FleetToken, Invoice
from app.chargers.models import ChargePoint, CommandLog, Connector, DiagnosticsFile, Evse, Location
from app.core.database import Base
from app.core.security import digest_secret
from app.drivers.models import IdToken, User
from app.drivers.service import UserService
from app.health.models import Incident
from app.operators.models import ApiKey, AuditEntry, Operator
from app.operators.webhooks.crypto import seal
from app.operators.webhooks.models import WebhookDelivery, WebhookEndpoint
from app.roaming.models import OcpiPartner, OcpiPush, OcpiSession
from app.sessions.models import MeterSample, Transaction
from app.tariffs.models import Tariff, TariffAssignment
from app.tariffs.pricing import TariffTerms
from app.uptime.models import UptimeExclusion
from payments.models import Payment, Refund
from tests.support import create_staff

PASSWORD = "tenant-password-01"
X_ADMIN, Y_ADMIN, DRIVER = "admin@xeno.example", "admin@ynet.example", "driver@isolation.example"
Y_TOKEN = "YNETCARD7771"  # Y's operator card, also on Y's fleet account
Y_EVSE = "SE*YNT*E7771*1"
Y_OCPI_VERSIONS = "https://ocpi.ynet.example/versions"  # Y's roaming partner's (never resolves)
X_EVSE = "SE*XEN*E0001*1"
MONTH_START = datetime(2026, 11, 1, tzinfo=UTC)  # everything Y did happened in November 2026
TERMS = TariffTerms(
    name="Ynet Tariff Yellow",
    currency="SEK",
    price_per_kwh_minor=7_654_321,
    vat_rate_bp=2500,
    hold_amount_minor=5_000_000,
    time_zone="Europe/Stockholm",
)
# Amounts only Y has (minor units; also searched in their major-unit spellings).
Y_AMOUNTS = (7_654_321, 3_141_592, 2_718_281, 4_444_444, 1_618_033)


def at(day: int, hour: int = 10) -> datetime:
    return MONTH_START + timedelta(days=day - 1, hours=hour)


@dataclass
class Tenant:
    operator: Operator
    admin: User
    # What the walk fills into paths and bodies: ref name -> value (uuid or string).
    refs: dict[str, Any] = field(default_factory=dict)


@dataclass
class World:
    x: Tenant
    y: Tenant
    driver: User
    # Every primary key and natural key of a row Y owns: a row holding one of them is Y's.
    y_keys: frozenset[str]
    # Everything that identifies Y in a response body, lower case.
    y_markers: frozenset[str]

    def leaks(self, text: str) -> list[str]:
        """The Y markers found in ``text`` (whole tokens: a marker inside a longer id is not one)."""
        low = text.lower()
        return sorted(m for m in self.y_markers if m in low and re.search(_whole(m), low))


def _whole(marker: str) -> str:
    before = r"(?<!\w)" if marker[0].isalnum() else ""
    after = r"(?!\w)" if marker[-1].isalnum() else ""
    return before + re.escape(marker) + after


def _amount_spellings(minor: int) -> set[str]:
    major, cents = divmod(minor, 100)
    return {str(minor), f"{major}.{cents:02d}", f"{major},{cents:02d}"}


async def _tenant(db: AsyncSession, name: str, party: str, admin_email: str) -> Tenant:
    operator = Operator(name=name, country_code="SE", party_id=party)
    db.add(operator)
    await db.commit()
    admin = await create_staff(db, admin_email, PASSWORD, "admin", operator_id=operator.id)
    return Tenant(operator, admin, {"operator": operator.id})


async def _network(db: AsyncSession, t: Tenant, *, number: int, name: str, identity: str, evse_id: str) -> Evse:
    location = Location(operator_id=t.operator.id, name=name, address=f"{name} gatan 7", city=f"{name} stad")
    db.add(location)
    await db.flush()
    cp = ChargePoint(
        number=number,
        identity=identity,
        operator_id=t.operator.id,
        location_id=location.id,
        password_hash="not-a-hash",
        vendor=f"{identity}-vendor",
        serial_number=f"{identity}-serial",
        registration_status="Accepted",
    )
    db.add(cp)
    await db.flush()
    evse = Evse(charge_point_id=cp.id, evse_number=1, evse_id=evse_id, status="Available")
    db.add(evse)
    await db.flush()
    connector = Connector(evse_pk=evse.id, connector_number=1, status="Available")
    db.add(connector)
    await db.flush()
    t.refs |= {
        "location": location.id,
        "charger": cp.id,
        "evse": evse_id,
        "evse_pk": evse.id,
        "connector": connector.id,
    }
    return evse


async def build_world(db: AsyncSession, secret_key: str) -> World:
    x = await _tenant(db, "Xeno Power AB", "XEN", X_ADMIN)
    y = await _tenant(db, "Ynet Charging AB", "YNT", Y_ADMIN)
    driver = await UserService(db).create_user(DRIVER, PASSWORD, "driver")

    # -- X: a little network of its own ---------------------------------------------------------
    await _network(db, x, number=1001, name="Xeno Square", identity="XENO-CP-1001", evse_id=X_EVSE)
    x_tariff = Tariff(operator_id=x.operator.id, name="Xeno Tariff", currency="SEK", vat_rate_bp=2500)
    x_card = IdToken(token="XENOCARD0001", operator_id=x.operator.id, label="Xeno card")
    x_fleet = FleetAccount(
        operator_id=x.operator.id, name="Xeno Fleet", billing_email="fleet@xeno.example", currency="SEK"
    )
    x_partner = _roaming_partner(x.operator.id, "Xeno Roaming Partner", "XRP", "https://ocpi.xeno.example/versions")
    db.add_all([x_tariff, x_card, x_fleet, x_partner])
    await db.flush()
    x.refs |= {"tariff": x_tariff.id, "fleet_account": x_fleet.id, "roaming_partner": x_partner.id}

    # -- Y: one of everything ---------------------------------------------------------------
    o = y.operator.id
    evse = await _network(db, y, number=7771, name="Ynet Depot Yggdrasil", identity="YNET-CP-7771", evse_id=Y_EVSE)
    cp_id, location_id = y.refs["charger"], y.refs["location"]
    tariff = Tariff(operator_id=o, **{k: v for k, v in TERMS.to_dict().items() if k in _TARIFF_FIELDS})
    db.add(tariff)
    await db.flush()
    assignments = [
        TariffAssignment(operator_id=o, scope=scope, target_id=target, tariff_id=tariff.id)
        for scope, target in (("evse", evse.id), ("location", location_id), ("operator", o))
    ]
    id_token = IdToken(token=Y_TOKEN, operator_id=o, label="Ynet night shift card")
    fleet = FleetAccount(
        operator_id=o,
        name="Ynet Fleet Yachts",
        organisation_number="556677-7771",
        billing_email="billing@ynet-fleet.example",
        address="Ynet Harbour 1",
        currency="SEK",
    )
    db.add_all([*assignments, id_token, fleet])
    await db.flush()
    invoice = Invoice(
        operator_id=o,
        fleet_account_id=fleet.id,
        number="YNT-INV-7771",
        period_start=date(2026, 10, 1),
        period_end=date(2026, 11, 1),
        currency="SEK",
        net_minor=1_294_426,
        vat_minor=323_607,
        total_minor=1_618_033,
        lines=[],
        due_on=date(2026, 11, 30),
        notes="ynet invoice note",
    )
    tx = Transaction(
        number=777_001,
        charge_point_id=cp_id,
        charger_transaction_id="ynet-tx-7771",
        evse_number=1,
        connector_number=1,
        id_token=Y_TOKEN,
        id_token_type="ISO14443",
        status="completed",
        started_at=at(3, 10),
        stopped_at=at(3, 11),
        meter_start_wh=0,
        meter_stop_wh=41_000,
        energy_wh=41_000,
        tariff_snapshot=TERMS.to_dict(),
        cost_currency="SEK",
        cost_minor=3_141_592,
        cost_vat_minor=628_318,
        priced_at=at(3, 11),
    )
    db.add_all([FleetToken(id_token=Y_TOKEN, fleet_account_id=fleet.id), invoice, tx])
    await db.flush()
    samples = [
        MeterSample(
            charge_point_id=cp_id,
            transaction_id=tx.id,
            evse_number=1,
            sampled_at=at(3, 10) + timedelta(minutes=m),
            measurand="Energy.Active.Import.Register",
            context="Sample.Periodic",
            unit="Wh",
            value=wh,
        )
        for m, wh in ((0, 0.0), (30, 20_500.0), (60, 41_000.0))
    ]
    payment = Payment(
        operator_id=o,
        provider="stripe",
        provider_ref="pi_ynet_7771",
        status="partially_refunded",
        currency="SEK",
        hold_minor=5_000_000,
        amount_due_minor=3_141_592,
        captured_minor=3_141_592,
        refunded_minor=2_718_281,
        payer_email="payer@ynet-driver.example",
        evse_id=evse.id,
        id_token="ynet-pay-7771",
        transaction_id=tx.id,
        tariff_snapshot=TERMS.to_dict(),
        method_brand="visa",
        method_last4="7771",
        authorised_at=at(3, 9),
        settled_at=at(3, 11),
        created_at=at(3, 9),
    )
    # A hold still open (the hold report's subject), on the same EVSE.
    hold = Payment(
        operator_id=o,
        provider="stripe",
        provider_ref="pi_ynet_hold_7772",
        status="authorised",
        currency="SEK",
        hold_minor=4_444_444,
        payer_email="holder@ynet-driver.example",
        evse_id=evse.id,
        id_token="ynet-hold-7772",
        tariff_snapshot=TERMS.to_dict(),
        authorised_at=at(4, 9),
        created_at=at(4, 9),
    )
    db.add_all([*samples, payment, hold])
    await db.flush()
    refund = Refund(
        payment_id=payment.id,
        seq=1,
        amount_minor=2_718_281,
        reason="ynet goodwill",
        status="succeeded",
        provider_ref="re_ynet_7771",
        created_at=at(3, 13),
    )
    incident = Incident(
        operator_id=o,
        location_id=location_id,
        charge_point_id=cp_id,
        identity="YNET-CP-7771",
        evse=1,
        connectors=[1],
        kind="offline",
        cause="site_network",
        confidence=0.7,
        severity="major",
        state="open",
        summary="Ynet charger YNET-CP-7771 went dark",
        opened_at=at(5),
        last_signal_at=at(5),
        dedupe_key="YNET-CP-7771:1:offline:",
        open_key="YNET-CP-7771:1:offline:",
    )
    exclusion = UptimeExclusion(
        operator_id=o,
        scope="charge_point",
        target_id=cp_id,
        starts_at=at(6),
        ends_at=at(7),
        reason="vandalism",
        note="ynet cable cut",
        created_by=y.admin.id,
    )
    command = CommandLog(
        charge_point_id=cp_id,
        name="get-diagnostics",
        args={"note": "ynet diagnostics request"},
        requested_by=y.admin.id,
        requested_at=at(5, 11),
        outcome="answered",
        answer_status="Accepted",
        answered_at=at(5, 11),
    )
    webhook = WebhookEndpoint(
        operator_id=o,
        url="https://hooks.ynet.example/laddnat",
        description="ynet ops room",
        secret_sealed=seal(secret_key, "whsec_ynet_secret"),
    )
    api_key = ApiKey(
        operator_id=o, name="ynet-backoffice", prefix="lnk_ynet7771", secret_hash="not-a-hash", roles=["read_only"]
    )
    partner = _roaming_partner(o, "Ynet Roaming Partner", "YRP", Y_OCPI_VERSIONS)
    db.add_all([refund, incident, exclusion, command, webhook, api_key, partner])
    await db.flush()
    push = OcpiPush(
        operator_id=o,
        partner_id=partner.id,
        module="locations",
        method="PUT",
        url="https://ocpi.ynet.example/emsp/2.2.1/locations/SE/YNT/ynet-location",
        body={"id": "ynet-location", "name": "Ynet Depot Yggdrasil"},
        object_key="location:ynet-location",
        attempts=1,
        done_at=at(5, 12),  # done: the push worker never touches it again
        outcome="delivered",
    )
    diagnostics = DiagnosticsFile(
        charge_point_id=cp_id,
        command_id=command.id,
        request_id=7771,
        token_hash="ynet" + "0" * 60,
        expires_at=at(6),
        filename="ynet-diagnostics-7771.log",
        content_type="text/plain",
        size_bytes=21,
        sha256="ab" * 32,
        content=b"ynet diagnostics body",
        uploaded_at=at(5, 12),
    )
    delivery = WebhookDelivery(
        endpoint_id=webhook.id,
        type="incident.opened",
        payload='{"summary": "ynet delivery"}',
        state="delivered",  # done: the delivery worker never touches it again
        attempts=1,
        delivered_at=at(5, 12),
        last_attempt_at=at(5, 12),
        last_status=200,
    )
    audit = AuditEntry(
        operator_id=o,
        actor_type="user",
        actor_id=y.admin.id,
        actor_name=Y_ADMIN,
        action="tariffs.update",
        method="PATCH",
        path=f"/api/v1/operator/tariffs/{tariff.id}",
        status_code=200,
        details={"note": "ynet audit"},
    )
    # A roaming partner of Y's and the CDR its driver's session made (the roaming revenue
    # report's and the CDR reconciliation's subject).
    cdr_partner = OcpiPartner(
        operator_id=o,
        name="Ynet roaming partner",
        state="registered",
        country_code="NL",
        party_id="YNP",
        token_digest="ynet" + "1" * 60,
        their_token="ynet-their-token",
    )
    db.add_all([diagnostics, delivery, audit, push, cdr_partner])
    await db.flush()
    roaming = OcpiSession(
        operator_id=o,
        partner_id=cdr_partner.id,
        token={"uid": "ynet-roaming-uid", "type": "RFID", "contract_id": "NL-YNP-7771"},
        auth_method="WHITELIST",
        status="COMPLETED",
        cdr_id="ynet-cdr-7771",
        cdr={"id": "ynet-cdr-7771", "total_energy": 41.0},
        cdr_total_minor=3_141_592,
        currency="SEK",
        cdr_last_updated=at(3, 11),
    )
    db.add(roaming)
    await db.flush()
    cdr_push = OcpiPush(
        operator_id=o,
        partner_id=cdr_partner.id,
        module="cdrs",
        method="POST",
        url="https://ocpi.ynet-partner.example/cdrs",
        body={"id": "ynet-cdr-7771"},
        object_key="cdr:ynet-cdr-7771",
        attempts=1,
        done_at=at(3, 12),
        outcome="delivered",
    )
    db.add(cdr_push)
    await db.commit()

    y.refs |= {
        "tariff": tariff.id,
        "id_token": Y_TOKEN,
        "fleet_account": fleet.id,
        "invoice": invoice.id,
        "transaction": tx.id,
        "payment": payment.id,
        "hold": hold.id,
        "refund": refund.id,
        "incident": incident.id,
        "exclusion": exclusion.id,
        "command": command.id,
        "diagnostics_file": diagnostics.id,
        "webhook": webhook.id,
        "delivery": delivery.id,
        "roaming_partner": partner.id,
        "roaming_versions_url": Y_OCPI_VERSIONS,
        "api_key": api_key.id,
        "audit_entry": audit.id,
        "admin": y.admin.id,
        "ocpi_partner": cdr_partner.id,
        "ocpi_session": roaming.id,
    }
    y_keys = {str(v) for v in y.refs.values()} | {"YNET-CP-7771", "ynet-pay-7771", "ynet-hold-7772", "ynet-cdr-7771"}
    y_keys |= {str(a.id) for a in assignments}
    strings = {
        "Ynet",  # every name, address, note and e-mail of Y's has it
        "YNT*",  # Y's EVSE id prefix (SE*YNT*...)
        "pi_ynet",
        "re_ynet",
        "556677-7771",
        "ynet-cdr-7771",
        "YNP",
        *(str(v) for v in y.refs.values()),
    }
    markers = {s.lower() for s in strings}
    for amount in Y_AMOUNTS:
        markers |= _amount_spellings(amount)
    return World(x, y, driver, frozenset(y_keys), frozenset(markers))


_TARIFF_FIELDS = {
    "name",
    "currency",
    "price_per_kwh_minor",
    "price_per_minute_minor",
    "session_fee_minor",
    "idle_fee_per_minute_minor",
    "idle_grace_minutes",
    "vat_rate_bp",
    "min_price_minor",
    "max_price_minor",
    "hold_amount_minor",
}


Row = tuple[str, ...]


async def rows_of(db: AsyncSession, keys: frozenset[str]) -> dict[str, frozenset[Row]]:
    """Every row of every table that holds one of ``keys`` in any column, as text: what Y
    owns and everything that points at it (a refund of Y's payment, a command to Y's charger)."""
    found: dict[str, frozenset[Row]] = {}
    for table in Base.metadata.sorted_tables:
        rows = (await db.execute(select(table))).all()
        mine = frozenset(
            tuple(msgspec.json.encode(v, enc_hook=str).decode() if isinstance(v, dict | list) else str(v) for v in row)
            for row in rows
            if any(str(v) in keys for v in row)
        )
        if mine:
            found[table.name] = mine
    return found


def differences(
    before: dict[str, frozenset[Row]], after: dict[str, frozenset[Row]], *, originals: frozenset[str] | None = None
) -> list[str]:
    """What changed between two ``rows_of``, one line per table. With ``originals`` (the
    first-column ids of the rows at the start), a later change to a row that appeared during
    the walk is left out: the step that made it was told, and a worker may still be on it."""
    out = []
    for table in sorted(before.keys() | after.keys()):
        old_rows, new_rows = before.get(table, frozenset()), after.get(table, frozenset())
        known = {row[0] for row in old_rows}
        gone = [row for row in old_rows - new_rows if originals is None or row[0] in originals]
        new = [row for row in new_rows - old_rows if originals is None or row[0] in originals or row[0] not in known]
        if gone or new:
            out.append(f"{table}: {len(gone)} row(s) changed or removed, {len(new)} new or changed: {sorted(new)[:2]}")
    return out


def first_columns(rows: dict[str, frozenset[Row]]) -> frozenset[str]:
    return frozenset(row[0] for table in rows.values() for row in table)


def _roaming_partner(operator_id: uuid.UUID, name: str, party_id: str, versions_url: str) -> OcpiPartner:
    """A registered OCPI partner whose URLs lead nowhere (.example never resolves)."""
    base = versions_url.removesuffix("/versions")
    return OcpiPartner(
        operator_id=operator_id,
        name=name,
        state="registered",
        country_code="NL",
        party_id=party_id,
        roles=[{"role": "EMSP", "country_code": "NL", "party_id": party_id, "business_details": {"name": name}}],
        token_digest=digest_secret(f"{party_id}-token-c"),
        their_token=f"{party_id}-token-b",
        versions_url=versions_url,
        version="2.2.1",
        endpoints=[{"identifier": "credentials", "role": "SENDER", "url": f"{base}/2.2.1/credentials"}],
        registered_at=at(2),
    )


def fresh(ref: str, value: Any) -> Any:
    """A value of the same kind as ``value`` that names nothing in the database."""
    if isinstance(value, uuid.UUID):
        return uuid.uuid4()
    if ref == "roaming_versions_url":
        return f"https://ocpi.nobody{uuid.uuid4().hex[:8]}.example/versions"
    if ref == "evse":
        return f"SE*ZZZ*E{uuid.uuid4().int % 10_000:04d}*1"
    return f"NOBODY{uuid.uuid4().hex[:10].upper()}"
