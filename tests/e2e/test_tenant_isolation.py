"""Tenant isolation: every operator operation of the OpenAPI, called by tenant X's admin with
tenant Y's ids, answers exactly as it does for ids that exist nowhere, shows nothing of Y and
changes nothing of Y's (issue 13).

The walk is generated from ``openapi/openapi.json``; an operation without an entry in CASES
fails with a message naming it, so a new operator endpoint cannot escape the walk. One world
(tests/e2e/tenant_world.py) and one app serve the whole module: the real app over ASGI and a
real migrated database. Reads are walked first, then changes, then deletions, so a change
that wrongly succeeds cannot hide a leaky read.

Each step is sent twice, with Y's ids and with stand-ins that name nothing, and:
- an operation that names Y's resource in its path answers 404;
- every step answers like the stand-in (same status, problem code and problem fields), and
  a 2xx body (list, report, CSV, created resource) holds none of Y's identifying values;
- no row of Y's, nor any row pointing at one of Y's, appears, changes or disappears.
A driver's token gets 403 on every operator operation, no token 401.

Lists are walked plain and, where they take id filters, filtered by Y's ids; bodies that
take ids name Y's, and a second case puts Y's resource on X's own (Y's tariff on X's EVSE).
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.bus import InProcessBus
from app.core.database import create_engine
from app.core.settings import HealthSettings, Settings
from app.main import create_app
from payments.provider import SettlementLine
from payments.registry import Providers
from tests.e2e.tenant_world import (
    DRIVER,
    PASSWORD,
    X_ADMIN,
    Y_ADMIN,
    World,
    build_world,
    differences,
    first_columns,
    fresh,
    rows_of,
)
from tests.e2e.test_api import running

OPERATOR_PREFIX = "/api/v1/operator/"
SPEC_FILE = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"
METHODS = ("get", "post", "put", "patch", "delete")
# Reads first, changes next, deletions last (see the module docstring).
ORDER = {"get": 0, "post": 1, "put": 1, "patch": 1, "delete": 2}

# -- how the walk names Y's resources -----------------------------------------------------------

# Path parameter -> the ref (tenant_world.World refs) it is filled with.
PATH_REFS = {
    "charger_id": "charger",
    "location_id": "location",
    "evse_id": "evse",  # the eMI3 EVSE ID (SE*YNT*E7771*1): what these paths take
    "tariff_id": "tariff",
    "payment_id": "payment",
    "transaction_id": "transaction",
    "incident_id": "incident",
    "account_id": "fleet_account",
    "invoice_id": "invoice",
    "webhook_id": "webhook",
    "exclusion_id": "exclusion",
    "file_id": "diagnostics_file",
    "operator_id": "operator",
    "key_id": "api_key",
    "user_id": "admin",  # Y's staff user
    "partner_id": "roaming_partner",
}
# Not resources of their own: SendCommand's command name, a refund's number within its payment.
PATH_CONSTANTS = {"name": "reset", "refund_seq": 1}
# Query filters that take an id: the filtered variant of a list fills them with Y's.
QUERY_REFS = {
    "chargerId": "charger",
    "locationId": "location",
    "fleetAccountId": "fleet_account",
    "operatorId": "operator",
    "targetId": "charger",
    "actorId": "admin",  # Y's staff user
}
# Query values the walk always sends (a required range, or a period that holds Y's data).
QUERY_VALUES = {
    ("from", "date-time"): "2026-01-01T00:00:00Z",
    ("to", "date-time"): "2027-01-01T00:00:00Z",
    ("from", None): "2026-01",
    ("to", None): "2026-11",
    ("month", None): "2026-11",
}


def new_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8].upper()}"


@dataclass(frozen=True)
class Case:
    """One way to call an operation. ``body`` and ``path`` build from (r, x): r the refs
    under test (Y's, or their stand-ins), x X's own; ``path`` overrides PATH_REFS."""

    body: Callable[[Mapping[str, Any], Mapping[str, Any]], Any] | None = None
    path: Callable[[Mapping[str, Any], Mapping[str, Any]], dict[str, Any]] | None = None
    label: str = ""
    # The body names a key that is unique across tenants (a card number): the answer may say
    # it is taken, as for any card already registered, but nothing of Y's may change.
    unique_key: bool = False


CALL = Case()  # no body; the path from PATH_REFS


def exclusion(scope: str, ref: str) -> Case:
    """An uptime exclusion of Y's connector (port), charger or location."""
    period = {"startsAt": "2026-11-10T00:00:00Z", "endsAt": "2026-11-11T00:00:00Z", "reason": "other"}
    return Case(label=scope, body=lambda r, x: {"scope": scope, "targetId": r[ref], **period})


# Every operator operation, and how to call it. A body names Y's resources where it takes ids;
# a second case names X's own resource with Y's in the body ("X's tariff on Y's EVSE" and back).
CASES: dict[str, list[Case]] = {
    "ListChargers": [CALL],
    "RegisterCharger": [
        Case(
            body=lambda r, x: {
                "identity": new_name("XENO"),
                "password": "charger-password-0123",
                "evseCount": 1,
                "locationId": r["location"],
            }
        )
    ],
    "GetCharger": [CALL],
    "ListCommands": [CALL],
    "SendCommand": [
        Case(body=lambda r, x: {"kind": "soft"}),
        Case(
            label="x-charger-y-transaction",
            path=lambda r, x: {"charger_id": x["charger"], "name": "remote-stop"},
            body=lambda r, x: {"transactionId": r["transaction"]},
        ),
    ],
    "ListDiagnostics": [CALL],
    "DownloadDiagnostics": [CALL],
    "GetEvseQrPng": [CALL],
    "GetEvseQrSvg": [CALL],
    "GetEvseTariff": [CALL],
    "AssignEvseTariff": [
        Case(body=lambda r, x: {"tariffId": x["tariff"]}),
        Case(label="x-evse", path=lambda r, x: {"evse_id": x["evse"]}, body=lambda r, x: {"tariffId": r["tariff"]}),
    ],
    "UnassignEvseTariff": [CALL],
    "ListFleetAccounts": [CALL],
    "CreateFleetAccount": [
        Case(
            body=lambda r, x: {
                "name": "Xeno Fleet Two",
                "billingEmail": "two@xeno.example",
                "currency": "SEK",
                "operatorId": r["operator"],
            }
        )
    ],
    "GetFleetAccount": [CALL],
    "IssueFleetInvoice": [Case(body=lambda r, x: {"month": "2026-11"})],
    "LinkFleetToken": [
        Case(body=lambda r, x: {"idToken": new_name("XCARD")}),
        Case(
            label="x-account-y-card",
            path=lambda r, x: {"account_id": x["fleet_account"]},
            body=lambda r, x: {"idToken": r["id_token"]},
            unique_key=True,
        ),
    ],
    "ListIdTokens": [CALL],
    "CreateIdToken": [Case(body=lambda r, x: {"token": new_name("XCARD"), "label": "Xeno card"})],
    "ListIncidents": [CALL],
    "GetIncident": [CALL],
    "AcknowledgeIncident": [CALL],
    "ResolveIncident": [Case(body=lambda r, x: {"note": "resolved by X"})],
    "ListInvoices": [CALL],
    "GetInvoice": [CALL],
    "GetInvoicePdf": [CALL],
    "ListLocations": [CALL],
    "CreateLocation": [Case(body=lambda r, x: {"name": "Xeno Second Site"})],
    "GetLocation": [CALL],
    "LocationAvailability": [CALL],
    "LocationAvailabilityCsv": [CALL],
    "LocationAvailabilitySvg": [CALL],
    "GetLocationQrSheet": [CALL],
    "AssignLocationTariff": [
        Case(body=lambda r, x: {"tariffId": x["tariff"]}),
        Case(
            label="x-location",
            path=lambda r, x: {"location_id": x["location"]},
            body=lambda r, x: {"tariffId": r["tariff"]},
        ),
    ],
    "UnassignLocationTariff": [CALL],
    "AssignOperatorTariff": [
        Case(body=lambda r, x: {"tariffId": x["tariff"]}),
        Case(
            label="x-operator",
            path=lambda r, x: {"operator_id": x["operator"]},
            body=lambda r, x: {"tariffId": r["tariff"]},
        ),
    ],
    "UnassignOperatorTariff": [CALL],
    "ListPayments": [CALL],
    "GetPayment": [CALL],
    "GetPaymentReceipt": [CALL],
    "GetPaymentReceiptHtml": [CALL],
    "GetPaymentReceiptPdf": [CALL],
    "RefundPayment": [Case(body=lambda r, x: {"amountMinor": 100, "reason": "X refunds Y"})],
    "GetRefundCreditNote": [CALL],
    "GetRefundCreditNoteHtml": [CALL],
    "GetRefundCreditNotePdf": [CALL],
    "Reconcile": [
        Case(body=lambda r, x: {"provider": "stripe", "from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"})
    ],
    "HoldReport": [CALL],
    "HoldReportCsv": [CALL],
    "RefundReport": [CALL],
    "RefundReportCsv": [CALL],
    "RevenueReport": [CALL],
    "RevenueReportCsv": [CALL],
    "RoamingRevenueReport": [CALL],
    "RoamingRevenueReportCsv": [CALL],
    "ReconcileRoamingCdrs": [CALL],
    "ListTariffs": [CALL],
    "CreateTariff": [Case(body=lambda r, x: {"name": "Xeno Tariff Two", "currency": "SEK", "vatRateBp": 2500})],
    "GetTariff": [CALL],
    "UpdateTariff": [Case(body=lambda r, x: {"name": "Renamed by X", "pricePerKwhMinor": 1})],
    "QuoteTariff": [
        Case(body=lambda r, x: {"chargingMinutes": 30, "energyKwh": 10, "startAt": "2026-11-03T10:00:00Z"})
    ],
    "ListTransactions": [CALL],
    "GetTransaction": [CALL],
    "GetTransactionReceipt": [CALL],
    "GetTransactionReceiptHtml": [CALL],
    "GetTransactionReceiptPdf": [CALL],
    "ListUptimeExclusions": [CALL],
    "CreateUptimeExclusion": [
        exclusion("port", "connector"),
        exclusion("charge_point", "charger"),
        exclusion("location", "location"),
    ],
    "DeleteUptimeExclusion": [CALL],
    "PortUptimeReport": [CALL],
    "PortUptimeReportCsv": [CALL],
    "ListWebhooks": [CALL],
    "CreateWebhook": [Case(body=lambda r, x: {"url": "https://hooks.xeno.example/in", "events": ["incident.opened"]})],
    "GetWebhook": [CALL],
    "UpdateWebhook": [Case(body=lambda r, x: {"description": "changed by X"})],
    "DeleteWebhook": [CALL],
    "ListWebhookDeliveries": [CALL],
    "RotateWebhookSecret": [CALL],
    "TestWebhook": [CALL],
    "ListApiKeys": [CALL],
    "CreateApiKey": [Case(body=lambda r, x: {"name": "xeno-integration", "roles": ["read_only"]})],
    "GetApiKey": [CALL],
    "RevokeApiKey": [CALL],
    "ListStaffUsers": [CALL],
    "CreateStaffUser": [
        Case(body=lambda r, x: {"email": f"{new_name('staff')}@xeno.example", "password": PASSWORD, "role": "finance"})
    ],
    "GetStaffUser": [CALL],
    "UpdateStaffUser": [Case(body=lambda r, x: {"active": False})],
    "ListAuditEntries": [CALL],
    "ListRoamingPartners": [CALL],
    "GetRoamingPartner": [CALL],
    "IssueRoamingToken": [Case(body=lambda r, x: {"name": "Xeno eMSP"})],
    # Registering with Y's partner's versions URL (which does not resolve: refused like any).
    "RegisterRoamingPartner": [Case(body=lambda r, x: {"versionsUrl": r["roaming_versions_url"], "token": "walk-a"})],
    "UpdateRoamingRegistration": [CALL],
    "UnregisterRoamingPartner": [CALL],
    "SuspendRoamingPartner": [CALL],
    "ResumeRoamingPartner": [CALL],
    "ListRoamingPushes": [CALL],
    "GetCompany": [CALL],
    "UpdateCompany": [Case(body=lambda r, x: {"contactEmail": "office@xeno.example"})],
}
# X's own resource each of these lists must show: proof that a list is filtered, not empty.
X_SEES = {
    "ListChargers": "XENO-CP-1001",
    "ListLocations": "Xeno Square",
    "ListTariffs": "Xeno Tariff",
    "ListFleetAccounts": "Xeno Fleet",
    "ListIdTokens": "XENOCARD0001",
    "ListStaffUsers": X_ADMIN,
    "ListRoamingPartners": "Xeno Roaming Partner",
}

# -- the operations of the spec ------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    op_id: str
    method: str
    path: str
    params: tuple[dict[str, Any], ...]

    def of(self, where: str) -> list[dict[str, Any]]:
        return [p for p in self.params if p["in"] == where]


def operator_operations(spec: dict[str, Any]) -> dict[str, Operation]:
    ops = {}
    for path, item in spec["paths"].items():
        if not path.startswith(OPERATOR_PREFIX):
            continue
        for method in METHODS:
            if method in item:
                op = item[method]
                params = tuple(op.get("parameters", ()))
                ops[op["operationId"]] = Operation(op["operationId"], method, path, params)
    return ops


SPEC_OPS = operator_operations(json.loads(SPEC_FILE.read_text()))


@dataclass(frozen=True)
class Step:
    """One call of the walk: an operation, one of its cases, plain or with Y's id filters."""

    op: Operation
    case: Case | None  # None: the operation has no case yet
    filtered: bool = False

    @property
    def id(self) -> str:
        return "-".join(filter(None, [self.op.op_id, self.case.label if self.case else "", "filtered" * self.filtered]))


def steps() -> Iterator[Step]:
    for op in sorted(SPEC_OPS.values(), key=lambda op: ORDER[op.method]):
        cases = CASES.get(op.op_id)
        if cases is None:
            yield Step(op, None)
            continue
        for case in cases:
            yield Step(op, case)
        if any(_takes_id(p) for p in op.of("query")):
            yield Step(op, CALL, filtered=True)


def _takes_id(param: dict[str, Any]) -> bool:
    schema = param.get("schema", {})
    return any(s.get("format") == "uuid" for s in (schema, *schema.get("oneOf", ())))


STEPS = list(steps())


class Refs(Mapping[str, Any]):
    """Y's refs, or a stand-in for each that names nothing (the same one for the whole call);
    remembers which were used, so a step knows whether it named Y at all."""

    def __init__(self, values: Mapping[str, Any], *, stand_ins: bool) -> None:
        self._values = {k: fresh(k, v) for k, v in values.items()} if stand_ins else dict(values)
        self.used: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        self.used.add(key)
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


@dataclass
class Request:
    method: str
    url: str
    params: dict[str, str] = field(default_factory=dict)
    body: Any = None
    names_y_in_path: bool = False


def build(step: Step, r: Refs, x: Mapping[str, Any]) -> Request:
    op, case = step.op, step.case
    assert case is not None
    overrides = case.path(r, x) if case.path else {}
    url, names_y = op.path, False
    for p in op.of("path"):
        name = p["name"]
        if name in overrides:
            value = overrides[name]
        elif name in PATH_REFS:
            value, names_y = r[PATH_REFS[name]], True
        elif name in PATH_CONSTANTS:
            value = PATH_CONSTANTS[name]
        else:
            pytest.fail(f"{op.op_id}: path parameter {name!r} has no entry in PATH_REFS (which of Y's ids it takes)")
        url = url.replace("{" + name + "}", str(value))
    params = {}
    for p in op.of("query"):
        name, schema = p["name"], p.get("schema", {})
        if step.filtered and name in QUERY_REFS:
            params[name] = str(r[QUERY_REFS[name]])
        elif step.filtered and _takes_id(p):
            pytest.fail(f"{op.op_id}: query filter {name!r} has no entry in QUERY_REFS (which of Y's ids it takes)")
        elif (value := QUERY_VALUES.get((name, schema.get("format")))) is not None:
            params[name] = value
        elif p.get("required"):
            pytest.fail(f"{op.op_id}: required query parameter {name!r} has no entry in QUERY_VALUES")
    body = _jsonable(case.body(r, x)) if case.body else None
    return Request(op.method.upper(), url, params, body, names_y)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


# -- the module's app and world ------------------------------------------------------------------


class SettlementFeed:
    """The PSP's settlement feed for reconciliation: one line for each of Y's two movements
    (a shared PSP account sees every tenant's payments; X's reconciliation must not show Y's)."""

    name = "stripe"

    def __init__(self, world: World | None = None) -> None:
        self.world = world

    async def settlements(self, since: datetime, until: datetime) -> list[SettlementLine]:
        assert self.world is not None
        payment = self.world.y.refs["payment"]
        at = datetime(2026, 11, 3, 11, tzinfo=UTC)
        return [
            SettlementLine(
                provider_ref="pi_ynet_7771", payment_id=payment, kind="capture", amount_minor=3_141_592, currency="SEK"
            ),
            SettlementLine(
                provider_ref="pi_ynet_7771",
                payment_id=payment,
                kind="refund",
                amount_minor=-2_718_281,
                currency="SEK",
                occurred_at=at,
                line_ref="re_ynet_7771",
            ),
        ]


@dataclass
class Env:
    client: httpx.AsyncClient
    bus: InProcessBus
    maker: async_sessionmaker[AsyncSession]
    world: World
    app_operations: set[str]
    headers: dict[str, dict[str, str]]  # "x" | "y" | "driver" | "anonymous"

    async def y_rows(self) -> dict[str, frozenset[tuple[str, ...]]]:
        """Y's rows once every event published so far is handled (what a call set off is done)."""
        await self.bus.idle()
        async with self.maker() as db:
            return await rows_of(db, self.world.y_keys)

    async def send(self, req: Request, who: str) -> httpx.Response:
        return await self.client.request(
            req.method, req.url, params=req.params, json=req.body, headers=self.headers[who]
        )


@pytest.fixture(scope="module")
async def env(settings: Settings) -> AsyncIterator[Env]:
    # The fault detectors stay off: they would change Y's incident on their own.
    settings = dataclasses.replace(settings, health=HealthSettings(enabled=False))
    engine = create_engine(settings.db)
    bus = InProcessBus()
    feed = SettlementFeed()
    providers = Providers(settings.payments, {"stripe": feed})  # type: ignore[dict-item]
    app = create_app(settings, engine=engine, bus=bus, providers=providers)
    maker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    async with maker() as db:
        world = await build_world(db, settings.auth.secret_key)
    feed.world = world
    app_operations = set(operator_operations(app.openapi_schema.to_schema()))
    await bus.start()
    transport = httpx.ASGITransport(app=app)
    async with running(app), httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        headers: dict[str, dict[str, str]] = {"anonymous": {}}
        for who, email in (("x", X_ADMIN), ("y", Y_ADMIN), ("driver", DRIVER)):
            r = await client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
            assert r.status_code == 200, r.text
            headers[who] = {"Authorization": f"Bearer {r.json()['accessToken']}"}
        yield Env(client, bus, maker, world, app_operations, headers)
    await bus.close()
    await engine.dispose()


@pytest.fixture(scope="module")
async def y_rows_at_start(env: Env) -> dict[str, frozenset[tuple[str, ...]]]:
    return await env.y_rows()


# -- the walk -----------------------------------------------------------------------------------


def _code(r: httpx.Response) -> str | None:
    if not r.headers.get("content-type", "").startswith("application/problem+json"):
        return None
    code: str | None = r.json().get("code")
    return code


def _shape(r: httpx.Response) -> list[str] | None:
    """A problem's fields: another tenant's resource has the very body of a missing one."""
    return sorted(r.json()) if _code(r) is not None else None


def _answer(r: httpx.Response) -> str:
    return f"{r.status_code} {_code(r) or r.headers.get('content-type', '')}"


def test_every_operator_operation_has_a_case() -> None:
    missing = sorted(set(SPEC_OPS) - set(CASES))
    assert not missing, f"operator operations without a case in CASES (add how to call them with Y's ids): {missing}"


async def test_the_app_has_no_operator_operation_the_walk_misses(env: Env) -> None:
    unwalked = sorted(env.app_operations - set(SPEC_OPS))
    assert not unwalked, f"operations in the app but not in openapi/openapi.json (run `laddnat openapi`): {unwalked}"


READS = [s for s in STEPS if s.op.method == "get" and s.case is not None]
BINARY = ("image/png", "application/pdf")  # no text to search


@pytest.mark.parametrize("step", READS, ids=[s.id for s in READS])
async def test_tenant_y_sees_its_own(env: Env, step: Step) -> None:
    """The walk's premise, before it starts: every read, called by Y's admin, shows Y's own
    data; so X seeing none of it means X is kept out, not that the world is empty."""
    req = build(step, Refs(env.world.y.refs, stand_ins=False), env.world.x.refs)
    r = await env.send(req, "y")
    assert 200 <= r.status_code < 300, f"{req.method} {req.url} as Y: {r.status_code} {r.text[:300]}"
    if not r.headers["content-type"].startswith(BINARY):
        assert env.world.leaks(r.text), f"{req.method} {req.url} {req.params} as Y shows nothing of Y: {r.text[:300]}"


@pytest.mark.parametrize("step", STEPS, ids=[s.id for s in STEPS])
async def test_tenant_x_cannot_reach_tenant_y(env: Env, y_rows_at_start: dict[str, Any], step: Step) -> None:
    if step.case is None:
        pytest.fail(
            f"{step.op.op_id} ({step.op.method.upper()} {step.op.path}) has no case in CASES: "
            "add how to call it (its body, which of Y's ids it names)"
        )
    world = env.world
    before = await env.y_rows()
    stand_ins = Refs(world.y.refs, stand_ins=True)
    ys = Refs(world.y.refs, stand_ins=False)
    control = await env.send(build(step, stand_ins, world.x.refs), "x")
    req = build(step, ys, world.x.refs)
    r = await env.send(req, "x")
    changed = differences(before, await env.y_rows(), originals=first_columns(y_rows_at_start))

    found = []
    if req.names_y_in_path and r.status_code != 404:
        found.append(f"answers {_answer(r)} for Y's resource, not 404")
    like_missing = (r.status_code, _code(r), _shape(r)) == (control.status_code, _code(control), _shape(control))
    if not like_missing and not step.case.unique_key:
        found.append(f"answers {_answer(r)} with Y's ids but {_answer(control)} for ids that exist nowhere")
    if not ys.used and not 200 <= r.status_code < 300:
        found.append(f"answers {_answer(r)}: the walk's call should succeed ({r.text[:200]})")
    if 200 <= r.status_code < 300 and (leaked := world.leaks(r.text)):
        found.append(f"shows Y's {leaked[:6]}")
    if not step.filtered and (mine := X_SEES.get(step.op.op_id)) and mine not in r.text:
        found.append(f"does not show X's own {mine!r}")
    found += [f"changed Y's rows: {c}" for c in changed]
    assert not found, f"{req.method} {req.url} {req.params or ''}: " + "; ".join(found)


@pytest.mark.parametrize("step", STEPS, ids=[s.id for s in STEPS])
@pytest.mark.parametrize(("who", "status", "code"), [("driver", 403, "auth.forbidden"), ("anonymous", 401, None)])
async def test_only_operators_reach_operator_operations(
    env: Env, y_rows_at_start: dict[str, Any], step: Step, who: str, status: int, code: str | None
) -> None:
    """Refused before any handler runs (what that leaves of Y's rows the last test checks)."""
    if step.case is None:
        pytest.fail(f"{step.op.op_id} has no case in CASES")
    req = build(step, Refs(env.world.y.refs, stand_ins=False), env.world.x.refs)
    r = await env.send(req, who)
    assert r.status_code == status, f"{req.method} {req.url} as {who}: {r.status_code} {r.text[:200]}"
    assert r.headers["content-type"].startswith("application/problem+json")
    if code is not None:
        assert _code(r) == code


async def test_nothing_of_y_changed_in_the_whole_walk(env: Env, y_rows_at_start: dict[str, Any]) -> None:
    """Runs last: the walk as a whole modified, deleted, refunded or commanded nothing of Y's."""
    changed = differences(y_rows_at_start, await env.y_rows())
    assert not changed, "\n".join(changed)
