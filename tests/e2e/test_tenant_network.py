"""Two operator companies (tenants) on one instance: X sees nothing of Y's network.

Y is the operator company of the commands stack (real API, bridge and simulator chargers);
X is a second one. Y's locations, chargers, EVSEs, commands, diagnostics, transactions,
incidents and uptime are the 404 of something that does not exist to X (same status, code
and body shape), absent from X's lists and CSVs, and X can neither command Y's charger nor
build on Y's locations and targets. Each check is made as Y too, so a 404 is never vacuous.
"""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.chargers.models import Connector, DiagnosticsFile, Evse
from app.core.database import utcnow
from app.drivers.service import UserService
from app.health.models import Incident
from app.operators.models import Operator
from app.sessions.models import MeterSample, Transaction
from tests.e2e.test_cli import clean_env, laddnat
from tests.e2e.test_commands import Stack, sim, stack  # noqa: F401 (fixture)
from tests.support import create_staff

OPS = "/api/v1/operator"
X_USER = ("ops@x-cpo.test", "x-password-12345")
Y_READER = ("reader@y-cpo.test", "y-reader-password-1")
MONTH_AGO = timedelta(days=40)


@dataclass
class Net:
    """Y's network, as ids, and both companies' callers."""

    http: httpx.AsyncClient
    x: dict[str, str]  # X's admin
    y: dict[str, str]  # Y's admin
    y_reader: dict[str, str]  # Y's read-only user
    location: str
    charger: dict[str, Any]
    evse_id: str
    transaction: str
    incident: str
    diagnostics: str
    exclusion: str
    port_id: str  # the connector's id: an uptime port

    @property
    def charger_id(self) -> str:
        return str(self.charger["id"])

    async def get(self, who: dict[str, str], path: str, **params: Any) -> httpx.Response:
        return await self.http.get(f"{OPS}{path}", headers=who, params=params or None)

    async def post(self, who: dict[str, str], path: str, body: Any = None) -> httpx.Response:
        return await self.http.post(f"{OPS}{path}", headers=who, json=body if body is not None else {})


async def login(http: httpx.AsyncClient, email: str, password: str) -> dict[str, str]:
    r = await http.post("/api/v1/auth/token", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['accessToken']}"}


@pytest.fixture(scope="module")
async def net(stack: Stack) -> Net:  # noqa: F811 (the fixture imported above)
    y = stack.headers
    async with stack.maker() as db:
        x_company = Operator(name="X Laddning AB", country_code="SE", party_id="XCP")
        db.add(x_company)
        await db.commit()
        await create_staff(db, *X_USER, operator_id=x_company.id)
        await create_staff(db, *Y_READER, role="read_only", operator_id=stack.tenant_id)
    x = await login(stack.http, *X_USER)
    reader = await login(stack.http, *Y_READER)

    # Y's location and charger, made through Y's API.
    r = await stack.http.post(f"{OPS}/locations", json={"name": "Y Depot", "city": "Umeå"}, headers=y)
    assert r.status_code == 201, r.text
    location = r.json()["id"]
    identity = f"Y-{uuid.uuid4().hex[:8]}"
    body = {"identity": identity, "password": "a-good-charger-password", "evseCount": 1, "locationId": location}
    r = await stack.http.post(f"{OPS}/chargers", json=body, headers=y)
    assert r.status_code == 201, r.text
    charger = r.json()
    cp_id = uuid.UUID(charger["id"])

    # What the charger would have produced meanwhile: a transaction with a meter sample, an
    # incident and an uploaded diagnostics file.
    now = utcnow()
    async with stack.maker() as db:
        port = await db.scalar(
            select(Connector.id).join(Evse, Evse.id == Connector.evse_pk).where(Evse.charge_point_id == cp_id)
        )
        tx = Transaction(
            number=900_001,
            charge_point_id=cp_id,
            charger_transaction_id="77",
            evse_number=1,
            connector_number=1,
            id_token="Y-CARD",
            status="completed",
            started_at=now - MONTH_AGO,
            stopped_at=now - MONTH_AGO + timedelta(hours=1),
            energy_wh=12_000.0,
        )
        db.add(tx)
        await db.flush()
        db.add(
            MeterSample(
                charge_point_id=cp_id,
                transaction_id=tx.id,
                evse_number=1,
                sampled_at=now - MONTH_AGO,
                measurand="Energy.Active.Import.Register",
                context="Sample.Periodic",
                unit="Wh",
                value=12_000.0,
            )
        )
        incident = Incident(
            operator_id=stack.tenant_id,
            location_id=uuid.UUID(location),
            charge_point_id=cp_id,
            identity=identity,
            evse=1,
            kind="reported_error",
            cause="grid_supply",
            confidence=0.9,
            severity="critical",
            summary="Ground failure on EVSE 1",
            opened_at=now,
            last_signal_at=now,
            dedupe_key=f"tenant-test:{identity}",
        )
        upload = DiagnosticsFile(
            charge_point_id=cp_id,
            request_id=900_001,
            token_hash=uuid.uuid4().hex * 2,
            expires_at=now + timedelta(days=1),
            filename="y-diagnostics.log",
            content_type="text/plain",
            content=b"Y's private log",
            size_bytes=15,
            uploaded_at=now,
        )
        db.add_all([incident, upload])
        await db.commit()

    exclusion = {
        "scope": "charge_point",
        "targetId": str(cp_id),
        "startsAt": "2025-03-01T00:00:00Z",
        "endsAt": "2025-03-02T00:00:00Z",
        "reason": "grid_failure",
    }
    r = await stack.http.post(f"{OPS}/uptime/exclusions", json=exclusion, headers=y)
    assert r.status_code == 201, r.text
    return Net(
        stack.http,
        x,
        y,
        reader,
        location,
        charger,
        charger["evses"][0]["evseId"],
        str(tx.id),
        str(incident.id),
        str(upload.id),
        r.json()["id"],
        str(port),
    )


def same_not_found(theirs: httpx.Response, missing: httpx.Response) -> str:
    """``theirs`` is the 404 ``missing`` (of a resource that does not exist) is; its code."""
    assert theirs.status_code == missing.status_code == 404, (theirs.text, missing.text)
    a, b = theirs.json(), missing.json()
    assert (a["code"], a["title"], a["status"], set(a)) == (b["code"], b["title"], b["status"], set(b)), (a, b)
    return str(a["code"])


def by_id_paths(n: Net) -> list[tuple[str, str]]:
    """(Y's resource, the same with an id nothing has)."""
    nobody = str(uuid.uuid4())
    cp, loc = n.charger_id, n.location
    return [
        (f"/locations/{loc}", f"/locations/{nobody}"),
        (f"/chargers/{cp}", f"/chargers/{nobody}"),
        (f"/chargers/{cp}/commands", f"/chargers/{nobody}/commands"),
        (f"/chargers/{cp}/diagnostics", f"/chargers/{nobody}/diagnostics"),
        (f"/chargers/{cp}/diagnostics/{n.diagnostics}/content", f"/chargers/{cp}/diagnostics/{nobody}/content"),
        (f"/evses/{n.evse_id}/qr.svg", "/evses/SE*NOPE*E9999*1/qr.svg"),
        (f"/evses/{n.evse_id}/qr.png", "/evses/SE*NOPE*E9999*1/qr.png"),
        (f"/locations/{loc}/qr-sheet.pdf", f"/locations/{nobody}/qr-sheet.pdf"),
        (f"/transactions/{n.transaction}", f"/transactions/{nobody}"),
        (f"/incidents/{n.incident}", f"/incidents/{nobody}"),
        (f"/locations/{loc}/availability", f"/locations/{nobody}/availability"),
        (f"/locations/{loc}/availability.csv", f"/locations/{nobody}/availability.csv"),
        (f"/locations/{loc}/availability.svg", f"/locations/{nobody}/availability.svg"),
        (f"/uptime/ports?locationId={loc}", f"/uptime/ports?locationId={nobody}"),
        (f"/uptime/ports.csv?locationId={loc}", f"/uptime/ports.csv?locationId={nobody}"),
    ]


async def test_another_tenants_resources_are_not_found_by_id(net: Net) -> None:
    for theirs, missing in by_id_paths(net):
        assert (await net.get(net.y, theirs)).status_code == 200, theirs
        same_not_found(await net.get(net.x, theirs), await net.get(net.x, missing))


async def test_another_tenants_rows_are_absent_from_lists_and_csvs(net: Net) -> None:
    # X has a location of its own: its lists work, and hold only its own.
    r = await net.post(net.x, "/locations", {"name": "X Garage"})
    assert r.status_code == 201, r.text
    x_location = r.json()["id"]

    listings = {
        "/locations": net.location,
        "/chargers": net.charger_id,
        "/transactions": net.transaction,
        "/incidents": net.incident,
        "/uptime/exclusions": net.exclusion,
    }
    for path, y_row in listings.items():
        ys = (await net.get(net.y, path, limit=500)).json()
        assert y_row in {item["id"] for item in ys["items"]}, path
        xs = (await net.get(net.x, path, limit=500)).json()
        assert y_row not in {item["id"] for item in xs["items"]}, path
        assert xs["total"] == len(xs["items"]), path
    assert x_location in {loc["id"] for loc in (await net.get(net.x, "/locations", limit=500)).json()["items"]}
    for path in ("/transactions", "/incidents", "/uptime/exclusions"):
        assert (await net.get(net.x, path)).json()["total"] == 0, path

    # Filters naming Y's rows find nothing for X.
    assert (await net.get(net.x, "/transactions", chargerId=net.charger_id)).json()["total"] == 0
    assert (await net.get(net.x, "/incidents", chargerId=net.charger_id)).json()["total"] == 0
    assert (await net.get(net.x, "/incidents", locationId=net.location)).json()["total"] == 0
    assert (await net.get(net.x, "/uptime/exclusions", targetId=net.charger_id)).json()["total"] == 0

    # The uptime reports: Y's ports are in Y's, never in X's (JSON and CSV).
    identity = net.charger["identity"]
    y_ports = (await net.get(net.y, "/uptime/ports")).json()["ports"]
    assert identity in {p["chargePointIdentity"] for p in y_ports}
    assert (await net.get(net.x, "/uptime/ports")).json()["ports"] == []
    assert identity in (await net.get(net.y, "/uptime/ports.csv")).text
    x_csv = (await net.get(net.x, "/uptime/ports.csv")).text
    assert identity not in x_csv and len(list(csv.reader(io.StringIO(x_csv)))) == 1  # the header only
    x_site = (await net.get(net.x, f"/locations/{x_location}/availability.csv")).text
    assert identity not in x_site


async def test_a_command_to_another_tenants_charger_is_not_found_and_never_reaches_it(
    stack: Stack,  # noqa: F811 (the fixture imported above)
    net: Net,
) -> None:
    charger, cp_id = await sim(stack, "1.6")  # Y's, connected
    nobody = uuid.uuid4()
    for name, body in (("reset", {"kind": "soft"}), ("unlock-connector", {"evse": 1, "connector": 1})):
        same_not_found(
            await net.post(net.x, f"/chargers/{cp_id}/commands/{name}", body),
            await net.post(net.x, f"/chargers/{nobody}/commands/{name}", body),
        )
    # A remote stop naming Y's transaction on Y's charger: the charger is not found first.
    r = await net.post(net.x, f"/chargers/{net.charger_id}/commands/remote-stop", {"transactionId": net.transaction})
    assert r.status_code == 404 and r.json()["code"] == "charger.not_found"

    # Nothing was audited or sent: Y's own reset, answered after X's attempts, is the
    # charger's only one (the bridge's boot configuration push is the rest of its calls).
    async def operator_commands() -> list[str]:
        log = (await net.get(net.y, f"/chargers/{cp_id}/commands")).json()
        return [c["name"] for c in log["items"] if c["origin"] == "operator"]

    assert await operator_commands() == []
    r = await net.post(net.y, f"/chargers/{cp_id}/commands/reset", {"kind": "soft"})
    assert r.status_code == 200 and r.json()["outcome"] == "answered", r.text
    assert [action for action, _ in charger.received if action in {"Reset", "UnlockConnector"}] == ["Reset"]
    assert await operator_commands() == ["reset"]
    await charger.close()


async def test_no_charger_at_another_tenants_location(net: Net) -> None:
    identity = f"X-{uuid.uuid4().hex[:8]}"
    body = {"identity": identity, "password": "a-good-charger-password", "evseCount": 1}
    theirs = await net.post(net.x, "/chargers", {**body, "locationId": net.location})
    missing = await net.post(net.x, "/chargers", {**body, "locationId": str(uuid.uuid4())})
    assert same_not_found(theirs, missing) == "location.not_found"
    assert theirs.json().get("field") == "locationId"
    for who in (net.x, net.y):
        listed = (await net.get(who, "/chargers", limit=500)).json()["items"]
        assert identity not in {c["identity"] for c in listed}
    # Without a location it is X's own, and Y does not see it.
    r = await net.post(net.x, "/chargers", body)
    assert r.status_code == 201, r.text
    assert (await net.get(net.y, f"/chargers/{r.json()['id']}")).status_code == 404
    assert (await net.get(net.x, f"/chargers/{r.json()['id']}")).status_code == 200


async def test_no_uptime_exclusion_on_another_tenants_target(net: Net) -> None:
    def exclusion(scope: str, target: str) -> dict[str, Any]:
        return {
            "scope": scope,
            "targetId": target,
            "startsAt": "2025-05-01T00:00:00Z",
            "endsAt": "2025-05-02T00:00:00Z",
            "reason": "vandalism",
        }

    nobody = str(uuid.uuid4())
    for scope, target in (("port", net.port_id), ("charge_point", net.charger_id), ("location", net.location)):
        theirs = await net.post(net.x, "/uptime/exclusions", exclusion(scope, target))
        missing = await net.post(net.x, "/uptime/exclusions", exclusion(scope, nobody))
        # An unknown target is 422 (it is in the body, not the path): another tenant's is too.
        assert theirs.status_code == missing.status_code == 422, theirs.text
        assert theirs.json()["code"] == missing.json()["code"] == "uptime.unknown_target"
    # X cannot delete Y's exclusion either.
    r = await net.http.delete(f"{OPS}/uptime/exclusions/{net.exclusion}", headers=net.x)
    gone = await net.http.delete(f"{OPS}/uptime/exclusions/{nobody}", headers=net.x)
    assert r.status_code == gone.status_code == 404 and r.json()["code"] == gone.json()["code"]
    assert net.exclusion in {e["id"] for e in (await net.get(net.y, "/uptime/exclusions")).json()["items"]}


async def test_another_tenants_incident_cannot_be_acknowledged_or_resolved(net: Net) -> None:
    nobody = uuid.uuid4()
    for action in ("acknowledge", "resolve"):
        same_not_found(
            await net.post(net.x, f"/incidents/{net.incident}/{action}"),
            await net.post(net.x, f"/incidents/{nobody}/{action}"),
        )
    assert (await net.get(net.y, f"/incidents/{net.incident}")).json()["state"] == "open"


async def test_read_only_users_read_but_change_nothing(net: Net) -> None:
    reader = net.y_reader
    assert (await net.get(reader, f"/chargers/{net.charger_id}")).status_code == 200
    assert (await net.get(reader, f"/incidents/{net.incident}")).status_code == 200
    changes = [
        ("/locations", {"name": "Not allowed"}),
        ("/chargers", {"identity": "RO-1", "password": "a-good-charger-password"}),
        (f"/chargers/{net.charger_id}/commands/reset", {"kind": "soft"}),
        (f"/incidents/{net.incident}/acknowledge", {}),
        (f"/incidents/{net.incident}/resolve", {}),
        ("/uptime/exclusions", {}),
    ]
    for path, body in changes:
        r = await net.post(reader, path, body)
        assert r.status_code == 403 and r.json()["code"] == "auth.forbidden", (path, r.text)
    r = await net.http.delete(f"{OPS}/uptime/exclusions/{net.exclusion}", headers=reader)
    assert r.status_code == 403 and r.json()["code"] == "auth.forbidden"
    assert (await net.get(net.y, f"/incidents/{net.incident}")).json()["state"] == "open"


@pytest.mark.subprocess
async def test_the_cli_registers_a_charger_for_a_tenant(database_url: str, net: Net) -> None:
    env = clean_env(LADDNAT_DATABASE_URL=database_url)
    identity = f"X-CLI-{uuid.uuid4().hex[:6]}"
    args = ("chargers", "add", identity, "--password", "a-good-charger-password", "--location", "X CLI Site")
    added, unknown = await asyncio.gather(
        laddnat(*args, "--tenant", "xcp", env=env),  # X's party id, any case
        laddnat("chargers", "add", "NOBODYS-1", "--password", "a-good-charger-password", "--tenant", "ZZZ", env=env),
    )
    assert added.code == 0, added.err
    assert unknown.code == 1 and len(unknown.err_lines) == 1 and "ZZZ" in unknown.err, unknown.err

    [charger] = [c for c in (await net.get(net.x, "/chargers", limit=500)).json()["items"] if c["identity"] == identity]
    assert charger["evses"][0]["evseId"].startswith("SE*XCP*")
    [site] = [
        loc for loc in (await net.get(net.x, "/locations", limit=500)).json()["items"] if loc["name"] == "X CLI Site"
    ]
    assert charger["locationId"] == site["id"]
    assert (await net.get(net.y, f"/chargers/{charger['id']}")).status_code == 404
    assert (await net.get(net.y, f"/locations/{site['id']}")).status_code == 404


def keys_of(value: Any) -> set[str]:
    """Every object key anywhere in a JSON value."""
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys_of(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys_of(v)}
    return set()


async def test_a_driver_sees_of_a_tenant_only_what_the_public_needs(stack: Stack, net: Net) -> None:  # noqa: F811
    email, password = f"driver-{uuid.uuid4().hex[:6]}@tenant.test", "driver-password-123"
    async with stack.maker() as db:
        await UserService(db).create_user(email, password, "driver")
    driver = await login(stack.http, email, password)
    r = await stack.http.get(f"/api/v1/evses/{net.evse_id}", headers=driver)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["evseId"] == net.evse_id and body["location"]["name"] == "Y Depot"
    internal = {"operatorId", "chargerId", "chargePointId", "identity", "incidentId", "summary", "evidence", "cause"}
    assert not keys_of(body) & internal, body
    # The operator API stays closed to the driver.
    assert (await stack.http.get(f"{OPS}/chargers/{net.charger_id}", headers=driver)).status_code == 403
