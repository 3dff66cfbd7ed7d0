"""schemathesis over the whole HTTP API: a real server on a free port over a real, seeded
database, called once as an operator's admin and once as a driver.

Every operation of the app's own OpenAPI document gets a few generated requests that the
document says are valid (positive) and a few it says are not (negative: a field out of its
bounds, a wrong type, a missing one). Each answer must not be a 5xx, must have a status
code the document lists for the operation, and must match the documented content type
and (for the positive ones) the documented body schema. The examples are few and
derandomized, so a run is deterministic and takes about 40 s of CPU (a minute or so on 2
cores); a failure names the operation and the request (as curl) that broke it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import requests
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.core.database import create_engine, create_sessionmaker
from app.core.settings import HttpSettings, Settings
from app.drivers.service import UserService
from app.main import create_app
from app.operators.models import Operator
from app.runner import _EmbeddedServer
from tests.e2e.test_api import CHARGER_PASSWORD
from tests.e2e.test_restart import free_port
from tests.support import create_staff

ADMIN = ("fuzz-admin@example.se", "fuzz-admin-password-1")
DRIVER = ("fuzz-driver@example.se", "fuzz-driver-password-1")
PLATFORM_ADMIN = ("fuzz-platform@example.se", "fuzz-platform-password-1")
OPS = "/api/v1/operator"
PLATFORM = "/api/v1/platform"

# Operations that cannot be fuzzed meaningfully here, and why.
SKIPPED = {
    # PSP notifications: every request is refused by its signature check before anything
    # else runs, and tests/e2e/payments drives them with real signed bodies.
    "StripeWebhook",
    "AdyenWebhook",
    # Chargers' diagnostics uploads: raw file bodies behind a one-time token in the path;
    # tests/e2e/health covers them with real tokens from real GetDiagnostics commands.
    "UploadDiagnosticsPost",
    "UploadDiagnosticsPut",
    "UploadDiagnosticsPostNamed",
    "UploadDiagnosticsPutNamed",
    # Would revoke the very tokens the rest of the run uses.
    "LogOutEverywhere",
    # A server-sent event stream stays open until its session ends.
    "StreamSession",
    # Calls out to the partner's URL it is given, and a partner that is not there is 502
    # roaming.partner_unusable; tests/e2e/ocpi/test_registration.py drives it against a real party.
    "RegisterRoamingPartner",
}

# Few examples per operation and mode, derandomized: the same requests on every run. About
# 100 operations x 2 callers x 2 modes x these take ~40 s of one core (test and server share
# this process), so the file stays within a minute on a quiet 2-core machine.
EXAMPLES = {GenerationMode.POSITIVE: 4, GenerationMode.NEGATIVE: 3}
POSITIVE_CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# An invalid request is answered with a documented 4xx problem: its status and content type
# are checked here (the problem's body shape is checked by the positive runs' 4xx answers).
NEGATIVE_CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance]


@dataclass
class World:
    base_url: str
    schema: Any
    operator: dict[str, str]
    driver: dict[str, str]
    platform: dict[str, str]
    # Path parameter name -> the id of a seeded resource, so that half the valid requests
    # reach a real location, charger, EVSE and tariff instead of a 404.
    ids: dict[str, str]


class _Server:
    """The app under uvicorn in a thread with its own event loop: schemathesis calls it
    synchronously (requests), so it cannot share the test's loop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self._server: uvicorn.Server | None = None
        self._thread = threading.Thread(target=self._run, name="schemathesis-api", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self.ready.wait(60)
        if self.error is not None:
            raise self.error
        assert self.ready.is_set(), "the API did not start"

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        self._thread.join(30)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:
            self.error = exc
            self.ready.set()

    async def _serve(self) -> None:
        engine = create_engine(self.settings.db)
        maker = create_sessionmaker(engine)
        async with maker() as db:
            operator = Operator(name="Fuzz CPO", country_code="SE", party_id="FUZ")
            db.add(operator)
            await db.commit()
            await create_staff(db, *ADMIN, role="admin", operator_id=operator.id)
            await UserService(db).create_user(*DRIVER, "driver")
            await UserService(db).create_user(*PLATFORM_ADMIN, "platform_admin")
        app = create_app(self.settings, engine=engine)
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.settings.http.port, log_config=None, access_log=False, lifespan="on"
        )
        self._server = _EmbeddedServer(config)
        serving = asyncio.create_task(self._server.serve())
        while not self._server.started and not serving.done():
            await asyncio.sleep(0.02)
        self.ready.set()
        await serving
        await engine.dispose()


def _bearer(client: httpx.Client, email: str, password: str) -> dict[str, str]:
    r = client.post("/api/v1/auth/token", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['accessToken']}"}


def _seed_network(client: httpx.Client, operator: dict[str, str]) -> dict[str, str]:
    """A location with a charger and a tariff, through the operator API itself."""
    location = {"name": "Fuzz depot", "latitude": 59.3, "longitude": 18.1}
    r = client.post(f"{OPS}/locations", json=location, headers=operator)
    assert r.status_code == 201, r.text
    location_id = r.json()["id"]
    charger = {"identity": "FUZZ-CP-1", "password": CHARGER_PASSWORD, "evseCount": 2, "locationId": location_id}
    r = client.post(f"{OPS}/chargers", json=charger, headers=operator)
    assert r.status_code == 201, r.text
    charger_out = r.json()
    tariff = {"name": "Fuzz", "currency": "SEK", "pricePerKwhMinor": 349, "vatRateBp": 2500, "holdAmountMinor": 20000}
    r = client.post(f"{OPS}/tariffs", json=tariff, headers=operator)
    assert r.status_code == 201, r.text
    tariff_out = r.json()
    r = client.put(f"{OPS}/locations/{location_id}/tariff", json={"tariffId": tariff_out["id"]}, headers=operator)
    assert r.status_code == 200, r.text
    return {
        "location_id": location_id,
        "charger_id": charger_out["id"],
        "evse_id": charger_out["evses"][0]["evseId"],
        "tariff_id": tariff_out["id"],
        "operator_id": tariff_out["operatorId"],
    }


@pytest.fixture(scope="module")
def world(settings: Settings) -> Iterator[World]:
    port = free_port()
    settings = dataclasses.replace(
        settings,
        http=HttpSettings(port=port, public_base_url=f"http://127.0.0.1:{port}"),
        # No bridge runs here: a command to the (offline) charger must not wait long.
        ocpp=dataclasses.replace(settings.ocpp, command_timeout_s=1.0),
    )
    server = _Server(settings)
    server.start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base_url, timeout=30) as client:
            operator = _bearer(client, *ADMIN)
            driver = _bearer(client, *DRIVER)
            platform = _bearer(client, *PLATFORM_ADMIN)
            ids = _seed_network(client, operator)
            # The live document the server serves, not the exported file: what a client sees.
            raw = client.get("/schema/openapi.json").json()
        yield World(base_url, schemathesis.openapi.from_dict(raw), operator, driver, platform, ids)
    finally:
        server.stop()


def _fuzz(world: World, headers: dict[str, str], under: str = "/") -> list[str]:
    """Run every operation (under ``under``) in both modes; return one line per operation and
    mode that failed."""
    session = requests.Session()
    operations = [result.ok() for result in world.schema.get_all_operations()]
    assert len(operations) > 50, "the OpenAPI document lost its operations"
    failures = []
    for operation in operations:
        if operation.definition.raw.get("operationId") in SKIPPED or not operation.path.startswith(under):
            continue
        for mode in EXAMPLES:
            failure = _first_failure(world, headers, session, operation, mode)
            if failure is not None:
                failures.append(failure)
    return failures


def _first_failure(
    world: World, headers: dict[str, str], session: requests.Session, operation: Any, mode: GenerationMode
) -> str | None:
    checks = POSITIVE_CHECKS if mode is GenerationMode.POSITIVE else NEGATIVE_CHECKS
    sent: list[Any] = []

    # No shrinking: the first failing request is reported as it was sent.
    @settings(
        max_examples=EXAMPLES[mode],
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), known=st.booleans())
    def run(case: Any, known: bool) -> None:
        if known and mode is GenerationMode.POSITIVE:
            for name in case.path_parameters or {}:
                case.path_parameters[name] = world.ids.get(name, case.path_parameters[name])
        # Our credentials win over any Authorization header the case generated.
        case.headers = {**(case.headers or {}), **headers}
        sent.append(case)
        case.call_and_validate(base_url=world.base_url, session=session, checks=checks, timeout=30)

    try:
        run()
    except Unsatisfiable:
        # Negative mode of an operation without parameters or body: nothing to send wrong.
        assert mode is GenerationMode.NEGATIVE, operation.label
    except Exception as exc:
        return f"{operation.label} [{mode.value}]: {exc}\n    {sent[-1].as_curl_command(base_url=world.base_url)}"
    return None


def test_every_operation_as_an_operator_admin(world: World) -> None:
    failures = _fuzz(world, world.operator)
    assert not failures, "\n\n".join(failures)


def test_every_operation_as_a_driver(world: World) -> None:
    failures = _fuzz(world, world.driver)
    assert not failures, "\n\n".join(failures)


def test_the_platform_operations_as_a_platform_admin(world: World) -> None:
    # Everything else answers a platform admin 403 before it reads a parameter.
    failures = _fuzz(world, world.platform, under=PLATFORM)
    assert not failures, "\n\n".join(failures)


def test_out_of_range_paging_and_report_parameters_are_a_422(world: World) -> None:
    """Offsets past the database's integers and absurd report ages were a 500 on 15
    operations; every integer parameter now has bounds, and past them a 422 naming it."""
    too_big = {"offset": 2**63, "limit": 2**63, "olderThanMinutes": 10**12, "minKw": 1e300, "radiusKm": 1e300}
    paths = world.schema.raw_schema["paths"]
    checked = 0
    with httpx.Client(base_url=world.base_url, timeout=30) as client:
        for path, item in paths.items():
            get = item.get("get")
            if get is None or "{" in path:
                continue
            client.headers.update(world.platform if path.startswith(PLATFORM) else world.operator)
            names = {p["name"] for p in get.get("parameters", [])}
            required = {p["name"]: p for p in get.get("parameters", []) if p.get("required")}
            base = {name: _valid_value(p) for name, p in required.items()}
            for name in names & too_big.keys():
                r = client.get(path, params={**base, name: too_big[name]})
                assert r.status_code == 422, (path, name, r.status_code, r.text)
                body = r.json()
                assert (body["code"], body["field"]) == ("request.invalid", name), (path, body)
                checked += 1
    # offset and limit on every list, olderThanMinutes on the holds report and its CSV.
    assert checked >= 30, checked


def _valid_value(parameter: dict[str, Any]) -> Any:
    schema = parameter["schema"]
    if schema.get("format") == "date-time":
        return "2026-01-01T00:00:00Z"
    if schema.get("type") in ("number", "integer"):
        return schema.get("minimum", 0)
    return schema.get("default") or (schema.get("enum") or ["x"])[0]
