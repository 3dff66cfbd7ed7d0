"""The HTTP API end to end: the real app over ASGI, a real migrated database (SQLite, or
PostgreSQL with LADDNAT_TEST_DATABASE_URL, see tests/conftest.py), no mocks."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from litestar import Litestar
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.core.database import create_engine, next_number
from app.core.security import issue_access_token, issue_refresh_token
from app.core.settings import DatabaseSettings, MetricsSettings, Settings
from app.drivers.models import RefreshToken, User
from app.drivers.service import UserService
from app.main import create_app
from app.sessions.models import MeterSample, Transaction
from tests.support import create_staff

OPERATOR_EMAIL, OPERATOR_PASSWORD = "Ops@Example.se", "operator-password-1"
DRIVER_EMAIL, DRIVER_PASSWORD = "driver@example.se", "driver-password-1"
CHARGER_PASSWORD = "charger-password-0123"
OPS = "/api/v1/operator"


@asynccontextmanager
async def running(app: Litestar) -> AsyncIterator[None]:
    """The app's lifespan in a task of its own: fixture setup and teardown may run in
    different tasks, and the lifespan's task group must begin and end in one."""
    started, stop = asyncio.Event(), asyncio.Event()

    async def lifespan() -> None:
        async with app.lifespan():
            started.set()
            await stop.wait()

    task = asyncio.create_task(lifespan())
    waiter = asyncio.create_task(started.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        waiter.cancel()
        await task  # raises what broke the start-up
    try:
        yield
    finally:
        stop.set()
        await task


@dataclass
class Api:
    client: httpx.AsyncClient
    settings: Settings
    engine: AsyncEngine
    maker: async_sessionmaker[AsyncSession]
    operator: User
    driver: User
    operator_headers: dict[str, str]
    driver_headers: dict[str, str]

    async def login(self, email: str, password: str) -> dict[str, Any]:
        r = await self.client.post("/api/v1/auth/token", json={"email": email, "password": password})
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    async def register_charger(self, evse_count: int = 0, **extra: Any) -> dict[str, Any]:
        identity = f"CP-{uuid.uuid4().hex[:10]}"
        body = {"identity": identity, "password": CHARGER_PASSWORD, "evseCount": evse_count, **extra}
        r = await self.client.post(f"{OPS}/chargers", json=body, headers=self.operator_headers)
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
async def api(settings: Settings) -> AsyncIterator[Api]:
    engine = create_engine(settings.db)
    app = create_app(settings, engine=engine)
    maker = app.state.sessionmaker
    async with maker() as db:
        operator = await create_staff(db, OPERATOR_EMAIL, OPERATOR_PASSWORD)
        driver = await UserService(db).create_user(DRIVER_EMAIL, DRIVER_PASSWORD, "driver")
    transport = httpx.ASGITransport(app=app)
    async with running(app), httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        partial = Api(client, settings, engine, maker, operator, driver, {}, {})
        op_token = (await partial.login(OPERATOR_EMAIL, OPERATOR_PASSWORD))["accessToken"]
        drv_token = (await partial.login(DRIVER_EMAIL, DRIVER_PASSWORD))["accessToken"]
        partial.operator_headers = {"Authorization": f"Bearer {op_token}"}
        partial.driver_headers = {"Authorization": f"Bearer {drv_token}"}
        yield partial
    await engine.dispose()


def problem(r: httpx.Response, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    """Assert an RFC 9457 problem with our stable code; return its body."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    body: dict[str, Any] = r.json()
    assert {"type", "title", "status", "detail", "code"} <= set(body), body
    assert (body["status"], body["code"]) == (status, code), body
    assert body["type"].endswith(code)
    if field is not None:
        assert body.get("field") == field, body
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- ops endpoints -----------------------------------------------------------------------


async def test_healthz_answers_ok(api: Api) -> None:
    r = await api.client.get("/healthz")
    assert (r.status_code, r.json()) == (200, {"status": "ok"})


async def test_readyz_answers_ok_when_the_database_does(api: Api) -> None:
    r = await api.client.get("/readyz")
    assert (r.status_code, r.json()) == (200, {"status": "ok"})


async def test_readyz_is_503_problem_when_the_database_is_unreachable(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # A directory where the database file should be: SQLite cannot open it.
    not_a_file = tmp_path_factory.mktemp("not-a-database-file")
    settings = Settings(db=DatabaseSettings(url=f"sqlite+aiosqlite:///{not_a_file}"))
    app = create_app(settings)
    async with running(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        r = await client.get("/readyz")
        assert (await client.get("/healthz")).status_code == 200
    problem(r, 503, "db.unavailable")


async def test_metrics_are_prometheus_text(settings: Settings) -> None:
    token = "metrics-token-for-test-api"
    app = create_app(dataclasses.replace(settings, metrics=MetricsSettings(token=token)))
    async with running(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        r = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert "# TYPE laddnat_db_errors_total counter" in r.text


async def test_openapi_document_is_served(api: Api) -> None:
    r = await api.client.get("/schema/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert (doc["info"]["title"], doc["info"]["version"]) == ("Laddnät API", "0.1.0")
    operation = doc["paths"]["/api/v1/operator/chargers/{charger_id}"]["get"]
    assert operation["operationId"] == "GetCharger"
    assert "charger.not_found" in operation["responses"]["404"]["description"]


# -- sign-in and tokens ------------------------------------------------------------------


async def test_sign_in_returns_a_bearer_pair_and_email_case_does_not_matter(api: Api) -> None:
    body = await api.login(OPERATOR_EMAIL.upper(), OPERATOR_PASSWORD)
    assert body["tokenType"] == "Bearer"
    assert body["expiresIn"] == api.settings.auth.access_token_ttl_s
    assert body["accessToken"] and body["refreshToken"]
    r = await api.client.get("/api/v1/me", headers=bearer(body["accessToken"]))
    assert r.status_code == 200
    me = r.json()
    assert (me["email"], me["role"], me["active"]) == (OPERATOR_EMAIL.lower(), "admin", True)
    assert "passwordHash" not in me


@pytest.mark.parametrize(
    ("email", "password"),
    [(OPERATOR_EMAIL, "wrong-password-1"), ("nobody@example.se", OPERATOR_PASSWORD)],
    ids=["wrong-password", "unknown-email"],
)
async def test_wrong_credentials_are_401_whoever_asks(api: Api, email: str, password: str) -> None:
    r = await api.client.post("/api/v1/auth/token", json={"email": email, "password": password})
    problem(r, 401, "auth.invalid_credentials")
    assert r.headers["www-authenticate"].startswith("Bearer")


async def test_refresh_rotates_and_reuse_revokes_the_family(api: Api) -> None:
    first = await api.login(DRIVER_EMAIL, DRIVER_PASSWORD)
    r = await api.client.post("/api/v1/auth/refresh", json={"refreshToken": first["refreshToken"]})
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["refreshToken"] != first["refreshToken"]
    assert (await api.client.get("/api/v1/me", headers=bearer(second["accessToken"]))).status_code == 200

    # The first token again: someone holds a copy. Its whole family goes.
    r = await api.client.post("/api/v1/auth/refresh", json={"refreshToken": first["refreshToken"]})
    problem(r, 401, "auth.refresh_reused")
    r = await api.client.post("/api/v1/auth/refresh", json={"refreshToken": second["refreshToken"]})
    problem(r, 401, "auth.invalid_token")

    first_id = uuid.UUID(jwt.decode(first["refreshToken"], options={"verify_signature": False})["jti"])
    async with api.maker() as db:
        row = await db.get(RefreshToken, first_id)
        assert row is not None and row.used_at is not None
        family = (await db.scalars(select(RefreshToken).where(RefreshToken.family_id == row.family_id))).all()
    assert len(family) == 2
    assert all(t.revoked_at is not None for t in family)

    # Another sign-in (another family) is unaffected.
    other = await api.login(DRIVER_EMAIL, DRIVER_PASSWORD)
    r = await api.client.post("/api/v1/auth/refresh", json={"refreshToken": other["refreshToken"]})
    assert r.status_code == 200


async def test_bad_refresh_tokens_are_invalid_token(api: Api) -> None:
    auth = api.settings.auth
    past = datetime.now(UTC) - timedelta(days=2)
    expired = issue_refresh_token(
        auth, subject=api.driver.id, token_id=uuid.uuid4(), expires_at=past + timedelta(hours=1), now=past
    )
    access = (await api.login(DRIVER_EMAIL, DRIVER_PASSWORD))["accessToken"]
    unknown = issue_refresh_token(
        auth,
        subject=api.driver.id,
        token_id=uuid.uuid4(),
        expires_at=datetime.now(UTC) + timedelta(hours=1),
        now=datetime.now(UTC),
    )
    for token in (expired, access, unknown, "not-a-jwt"):
        r = await api.client.post("/api/v1/auth/refresh", json={"refreshToken": token})
        problem(r, 401, "auth.invalid_token")


# -- guards ------------------------------------------------------------------------------


async def test_operator_api_without_a_token_is_401(api: Api) -> None:
    r = await api.client.get(f"{OPS}/chargers")
    problem(r, 401, "auth.unauthenticated")
    assert r.headers["www-authenticate"].startswith("Bearer")
    r = await api.client.get(f"{OPS}/chargers", headers={"Authorization": "Basic dXNlcjpwdw=="})
    problem(r, 401, "auth.unauthenticated")


async def test_operator_api_with_a_driver_token_is_403(api: Api) -> None:
    for path in ("/chargers", "/locations", "/transactions", "/id-tokens"):
        problem(await api.client.get(OPS + path, headers=api.driver_headers), 403, "auth.forbidden")
    r = await api.client.post(f"{OPS}/locations", json={"name": "Sneaky"}, headers=api.driver_headers)
    problem(r, 403, "auth.forbidden")


def _claims(api: Api, **overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    claims = {
        "sub": str(api.operator.id),
        "role": "operator",
        "iss": api.settings.auth.issuer,
        "aud": api.settings.auth.audience,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=5)).timestamp()),
        "typ": "access",
    }
    claims.update(overrides)
    return claims


async def test_forged_expired_and_wrong_type_tokens_are_401(api: Api) -> None:
    auth = api.settings.auth
    expired, _ = issue_access_token(
        auth, subject=api.operator.id, role="operator", now=datetime.now(UTC) - timedelta(hours=2)
    )
    refresh = (await api.login(OPERATOR_EMAIL, OPERATOR_PASSWORD))["refreshToken"]
    with warnings.catch_warnings():  # PyJWT rightly finds the key short for HS512
        warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
        hs512 = jwt.encode(_claims(api), auth.secret_key, algorithm="HS512")
    tokens = {
        "expired": expired,
        "alg-none": jwt.encode(_claims(api), None, algorithm="none"),  # type: ignore[arg-type]
        "other-key": jwt.encode(_claims(api), "another-secret-key-of-32-characters!", algorithm="HS256"),
        "hs512-same-key": hs512,
        "wrong-audience": jwt.encode(_claims(api, aud="someone-else"), auth.secret_key, algorithm="HS256"),
        "no-exp": jwt.encode({k: v for k, v in _claims(api).items() if k != "exp"}, auth.secret_key, algorithm="HS256"),
        "unknown-user": jwt.encode(_claims(api, sub=str(uuid.uuid4())), auth.secret_key, algorithm="HS256"),
        "refresh-as-access": refresh,
        "garbage": "a.b.c",
    }
    for name, token in tokens.items():
        r = await api.client.get(f"{OPS}/chargers", headers=bearer(token))
        body = problem(r, 401, "auth.invalid_token")
        assert 'error="invalid_token"' in r.headers["www-authenticate"], name
        assert body["title"]
    # The same claims, properly signed, pass: the rejections above are about the token.
    good = jwt.encode(_claims(api), auth.secret_key, algorithm="HS256")
    assert (await api.client.get(f"{OPS}/chargers", headers=bearer(good))).status_code == 200


async def test_a_deactivated_users_token_stops_working(api: Api) -> None:
    async with api.maker() as db:
        user = await create_staff(db, f"{uuid.uuid4().hex[:8]}@example.se", "password-123")
    token = (await api.login(user.email, "password-123"))["accessToken"]
    assert (await api.client.get("/api/v1/me", headers=bearer(token))).status_code == 200
    async with api.maker() as db:
        await db.execute(update(User).where(User.id == user.id).values(active=False))
        await db.commit()
    problem(await api.client.get("/api/v1/me", headers=bearer(token)), 401, "auth.invalid_token")
    r = await api.client.post("/api/v1/auth/token", json={"email": user.email, "password": "password-123"})
    problem(r, 401, "auth.invalid_credentials")


async def test_me_needs_a_token_and_answers_drivers_too(api: Api) -> None:
    problem(await api.client.get("/api/v1/me"), 401, "auth.unauthenticated")
    r = await api.client.get("/api/v1/me", headers=api.driver_headers)
    assert r.status_code == 200
    assert (r.json()["id"], r.json()["role"]) == (str(api.driver.id), "driver")


# -- chargers ----------------------------------------------------------------------------


async def test_register_and_get_a_charger_with_evses_and_connectors(api: Api) -> None:
    created = await api.register_charger(evse_count=2, maxKw=11.0)
    assert "password" not in created and "passwordHash" not in created
    assert created["registrationStatus"] == "Pending" and created["connected"] is False
    r = await api.client.get(f"{OPS}/chargers/{created['id']}", headers=api.operator_headers)
    assert r.status_code == 200
    charger = r.json()
    assert "password" not in r.text.lower()
    assert charger == created
    assert [e["number"] for e in charger["evses"]] == [1, 2]
    evse = charger["evses"][0]
    assert evse["evseId"] == f"SE*LAD*E{charger['number']:04d}*1"
    [connector] = evse["connectors"]
    assert connector == {
        "number": 1,
        "standard": "IEC_62196_T2",
        "powerType": "AC_3_PHASE",
        "maxKw": 11.0,
        "status": "Unknown",
        "errorCode": None,
        "vendorErrorCode": None,
        "statusUpdatedAt": None,
    }


async def test_registering_a_charger_twice_is_409(api: Api) -> None:
    created = await api.register_charger()
    r = await api.client.post(
        f"{OPS}/chargers",
        json={"identity": created["identity"], "password": CHARGER_PASSWORD},
        headers=api.operator_headers,
    )
    problem(r, 409, "charger.already_exists")


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"identity": "has space", "password": CHARGER_PASSWORD}, 422, "charger.invalid_identity", "identity"),
        ({"identity": "CP-SHORTPW", "password": "short"}, 422, "charger.weak_password", "password"),
        (
            {"identity": "CP-NOLOC", "password": CHARGER_PASSWORD, "locationId": str(uuid.uuid4())},
            404,
            "location.not_found",
            "locationId",
        ),
        (
            {"identity": "CP-EVSES", "password": CHARGER_PASSWORD, "evseCount": -1},
            422,
            "request.invalid",
            "evseCount",
        ),
        ({"identity": "CP-X", "password": CHARGER_PASSWORD, "colour": "red"}, 422, "request.invalid", "colour"),
        ({"password": CHARGER_PASSWORD}, 422, "request.invalid", None),
    ],
    ids=["bad-identity", "weak-password", "unknown-location", "negative-evses", "unknown-field", "missing-identity"],
)
async def test_invalid_charger_registrations_are_precise_problems(
    api: Api, body: dict[str, Any], status: int, code: str, field: str | None
) -> None:
    r = await api.client.post(f"{OPS}/chargers", json=body, headers=api.operator_headers)
    detail = problem(r, status, code, field)["detail"]
    if field is not None and code == "request.invalid":
        assert field in detail


async def test_chargers_page_by_limit_and_offset(api: Api) -> None:
    for _ in range(3):
        await api.register_charger()
    r = await api.client.get(f"{OPS}/chargers", params={"limit": 500}, headers=api.operator_headers)
    everything = r.json()
    assert everything["total"] == len(everything["items"]) >= 3
    assert (everything["limit"], everything["offset"]) == (500, 0)
    r = await api.client.get(f"{OPS}/chargers", params={"limit": 2, "offset": 1}, headers=api.operator_headers)
    page = r.json()
    assert (page["limit"], page["offset"], page["total"]) == (2, 1, everything["total"])
    assert page["items"] == everything["items"][1:3]
    r = await api.client.get(f"{OPS}/chargers", headers=api.operator_headers)
    assert r.json()["limit"] == 50


@pytest.mark.parametrize(
    ("params", "field"), [({"limit": 501}, "limit"), ({"limit": 0}, "limit"), ({"offset": -1}, "offset")]
)
async def test_paging_bounds_are_validated(api: Api, params: dict[str, int], field: str) -> None:
    r = await api.client.get(f"{OPS}/chargers", params=params, headers=api.operator_headers)
    problem(r, 422, "request.invalid", field)


async def test_unknown_ids_are_404_with_the_areas_code(api: Api) -> None:
    missing = uuid.uuid4()
    for path, code in (
        (f"/chargers/{missing}", "charger.not_found"),
        (f"/locations/{missing}", "location.not_found"),
        (f"/transactions/{missing}", "transaction.not_found"),
    ):
        problem(await api.client.get(OPS + path, headers=api.operator_headers), 404, code)
    # Not a UUID: no such route.
    problem(await api.client.get(f"{OPS}/chargers/not-a-uuid", headers=api.operator_headers), 404, "request.not_found")


async def test_unknown_routes_and_methods_are_problems(api: Api) -> None:
    problem(await api.client.get("/api/v1/nothing-here"), 404, "request.not_found")
    problem(await api.client.delete("/healthz"), 405, "request.method_not_allowed")


async def test_malformed_json_is_400(api: Api) -> None:
    r = await api.client.post("/api/v1/auth/token", content=b"{not json", headers={"Content-Type": "application/json"})
    problem(r, 400, "request.bad_request")


async def test_unknown_body_field_is_422_naming_it(api: Api) -> None:
    r = await api.client.post(
        "/api/v1/auth/token",
        json={"email": DRIVER_EMAIL, "password": DRIVER_PASSWORD, "rememberMe": True},
    )
    body = problem(r, 422, "request.invalid", "rememberMe")
    assert "rememberMe" in body["detail"]


# -- locations ---------------------------------------------------------------------------


async def test_create_list_and_get_locations(api: Api) -> None:
    body = {
        "name": "Hamnen",
        "address": "Kajen 1",
        "city": "Göteborg",
        "postalCode": "41101",
        "latitude": 57.7,
        "longitude": 11.95,
    }
    r = await api.client.post(f"{OPS}/locations", json=body, headers=api.operator_headers)
    assert r.status_code == 201, r.text
    created = r.json()
    assert {k: created[k] for k in body} == body
    assert (created["country"], created["timeZone"]) == ("SWE", "Europe/Stockholm")

    r = await api.client.get(f"{OPS}/locations/{created['id']}", headers=api.operator_headers)
    assert r.json() == created
    r = await api.client.get(f"{OPS}/locations", params={"limit": 500}, headers=api.operator_headers)
    assert created in r.json()["items"]

    charger = await api.register_charger(locationId=created["id"])
    assert charger["locationId"] == created["id"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "X", "timeZone": "Mars/Olympus"}, None),
        ({"name": "X", "latitude": 95, "longitude": 0}, "latitude"),
        ({"name": "X", "country": "se"}, "country"),
    ],
    ids=["empty-name", "bad-time-zone", "bad-latitude", "bad-country"],
)
async def test_invalid_locations_are_422(api: Api, body: dict[str, Any], field: str | None) -> None:
    r = await api.client.post(f"{OPS}/locations", json=body, headers=api.operator_headers)
    problem(r, 422, "request.invalid", field)


# -- id tokens ---------------------------------------------------------------------------


async def test_create_and_list_id_tokens(api: Api) -> None:
    token = uuid.uuid4().hex[:20].upper()
    r = await api.client.post(
        f"{OPS}/id-tokens",
        json={
            "token": token,
            "userId": str(api.driver.id),
            "label": "Blue card",
            "expiresAt": "2030-01-01T00:00:00+01:00",
        },
        headers=api.operator_headers,
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert (created["token"], created["type"], created["status"]) == (token, "ISO14443", "Accepted")
    assert created["userId"] == str(api.driver.id)
    assert datetime.fromisoformat(created["expiresAt"]) == datetime(2029, 12, 31, 23, tzinfo=UTC)

    r = await api.client.get(f"{OPS}/id-tokens", params={"limit": 500}, headers=api.operator_headers)
    page = r.json()
    assert created in page["items"] and page["total"] == len(page["items"])

    r = await api.client.post(f"{OPS}/id-tokens", json={"token": token}, headers=api.operator_headers)
    problem(r, 409, "id_token.already_exists", "token")


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"token": "X" * 37}, 422, "id_token.invalid", "token"),
        ({"token": ""}, 422, "id_token.invalid", "token"),
        ({"token": "ABC", "status": "Maybe"}, 422, "request.invalid", "status"),
        ({"token": "ABC", "type": "Barcode"}, 422, "request.invalid", "type"),
        ({"token": "ABC", "expiresAt": "2030-01-01T00:00:00"}, 422, "request.invalid", "expiresAt"),
        ({"token": "ABC", "userId": str(uuid.uuid4())}, 404, "user.not_found", "userId"),
    ],
    ids=["too-long", "empty", "bad-status", "bad-type", "naive-expiry", "unknown-user"],
)
async def test_invalid_id_tokens_are_precise_problems(
    api: Api, body: dict[str, Any], status: int, code: str, field: str
) -> None:
    r = await api.client.post(f"{OPS}/id-tokens", json=body, headers=api.operator_headers)
    problem(r, status, code, field)


# -- transactions ------------------------------------------------------------------------


async def _insert_transaction(api: Api, charger_id: uuid.UUID, start: datetime, *, completed: bool) -> uuid.UUID:
    """What the bridge would have stored; written through the ORM directly."""
    async with api.maker() as db:
        number = await next_number(db, "transaction")
        tx = Transaction(
            number=number,
            charge_point_id=charger_id,
            charger_transaction_id=f"tx-{number}",
            evse_number=1,
            connector_number=1,
            id_token="CARD-1",
            id_token_type="ISO14443",
            status="completed" if completed else "active",
            started_at=start,
            stopped_at=start + timedelta(hours=1) if completed else None,
            stop_reason="EVDisconnected" if completed else None,
            meter_start_wh=1000.0,
            meter_stop_wh=8000.0 if completed else None,
            energy_wh=7000.0 if completed else 0.0,
        )
        db.add(tx)
        await db.flush()
        for minutes, wh in ((0, 1000.0), (30, 4500.0), (60, 8000.0)):
            db.add(
                MeterSample(
                    charge_point_id=charger_id,
                    transaction_id=tx.id,
                    evse_number=1,
                    sampled_at=start + timedelta(minutes=minutes),
                    measurand="Energy.Active.Import.Register",
                    context="Sample.Periodic",
                    location="Outlet",
                    unit="Wh",
                    value=wh,
                )
            )
        db.add(
            MeterSample(
                charge_point_id=charger_id,
                transaction_id=tx.id,
                evse_number=1,
                sampled_at=start + timedelta(minutes=30),
                measurand="Current.Import",
                phase="L1",
                context="Sample.Periodic",
                unit="A",
                value=16.0,
            )
        )
        await db.commit()
        return tx.id


async def test_transactions_list_filter_and_detail_with_samples(api: Api) -> None:
    charger = await api.register_charger(evse_count=1)
    charger_id = uuid.UUID(charger["id"])
    start = datetime(2026, 6, 1, 10, tzinfo=UTC)
    done = await _insert_transaction(api, charger_id, start, completed=True)
    active = await _insert_transaction(api, charger_id, start + timedelta(hours=2), completed=False)
    other = await api.register_charger(evse_count=1)
    await _insert_transaction(api, uuid.UUID(other["id"]), start, completed=True)

    r = await api.client.get(f"{OPS}/transactions", params={"chargerId": charger["id"]}, headers=api.operator_headers)
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["total"] == 2
    assert [t["id"] for t in page["items"]] == [str(active), str(done)]  # newest first
    assert {t["chargerIdentity"] for t in page["items"]} == {charger["identity"]}
    assert all("meterSamples" not in t for t in page["items"])

    r = await api.client.get(
        f"{OPS}/transactions",
        params={"chargerId": charger["id"], "status": "completed"},
        headers=api.operator_headers,
    )
    assert [t["id"] for t in r.json()["items"]] == [str(done)]

    r = await api.client.get(f"{OPS}/transactions", params={"limit": 500}, headers=api.operator_headers)
    identities = {t["chargerIdentity"] for t in r.json()["items"]}
    assert {charger["identity"], other["identity"]} <= identities

    r = await api.client.get(f"{OPS}/transactions/{done}", headers=api.operator_headers)
    assert r.status_code == 200
    tx = r.json()
    assert tx["chargerIdentity"] == charger["identity"]
    assert tx["chargerId"] == charger["id"]
    assert (tx["status"], tx["evse"], tx["connector"], tx["idToken"]) == ("completed", 1, 1, "CARD-1")
    assert (tx["meterStartWh"], tx["meterStopWh"], tx["energyWh"]) == (1000.0, 8000.0, 7000.0)
    assert tx["chargerTransactionId"] == f"tx-{tx['number']}"
    assert tx["stopReason"] == "EVDisconnected"
    assert datetime.fromisoformat(tx["startedAt"]) == datetime(2026, 6, 1, 10, tzinfo=UTC)
    assert datetime.fromisoformat(tx["stoppedAt"]) == datetime(2026, 6, 1, 11, tzinfo=UTC)
    energy = [s for s in tx["meterSamples"] if s["measurand"] == "Energy.Active.Import.Register"]
    assert [s["value"] for s in energy] == [1000.0, 4500.0, 8000.0]
    assert energy[0] == {
        "sampledAt": "2026-06-01T10:00:00Z",
        "measurand": "Energy.Active.Import.Register",
        "phase": None,
        "location": "Outlet",
        "context": "Sample.Periodic",
        "unit": "Wh",
        "value": 1000.0,
    }
    [current] = [s for s in tx["meterSamples"] if s["measurand"] == "Current.Import"]
    assert (current["phase"], current["unit"], current["value"]) == ("L1", "A", 16.0)


@pytest.mark.parametrize(("params", "field"), [({"chargerId": "nope"}, "chargerId"), ({"status": "paused"}, "status")])
async def test_transaction_filters_are_validated(api: Api, params: dict[str, str], field: str) -> None:
    r = await api.client.get(f"{OPS}/transactions", params=params, headers=api.operator_headers)
    problem(r, 422, "request.invalid", field)


# -- failures we did not plan for ----------------------------------------------------------


async def test_an_unexpected_failure_is_a_500_problem_without_internals(api: Api) -> None:
    async with api.engine.begin() as conn:
        await conn.execute(text("ALTER TABLE locations RENAME TO locations_away"))
    try:
        r = await api.client.get(f"{OPS}/locations", headers=api.operator_headers)
    finally:
        async with api.engine.begin() as conn:
            await conn.execute(text("ALTER TABLE locations_away RENAME TO locations"))
        await api.engine.dispose()  # drop pooled connections that cached the old schema
    body = problem(r, 500, "server.internal_error")
    assert "locations" not in body["detail"].lower()
    assert (await api.client.get(f"{OPS}/locations", headers=api.operator_headers)).status_code == 200
