"""OCPP security profile 2: the bridge over TLS (wss://) with HTTP Basic charger passwords."""

from __future__ import annotations

import dataclasses
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidMessage, InvalidStatus

from app.core.bus import InProcessBus, RecordingSubscriber
from app.core.database import create_engine, create_sessionmaker
from app.core.settings import MetricsSettings, OcppSettings, Settings
from devtools.simulator import SimConfig, SimulatedCharger
from ocpp_bridge.protocol import Version
from ocpp_bridge.server import create_bridge
from tests.conftest import System
from tests.e2e.ocpp_helpers import PASSWORD, add_token, register, transactions
from tests.support import RawCharger, basic_auth

TAG = "TLS-TAG"
BOOT_16 = {"chargePointVendor": "Laddnät", "chargePointModel": "TLS-1"}
BOOT_201 = {"reason": "PowerUp", "chargingStation": {"vendorName": "Laddnät", "model": "TLS-1"}}


@dataclasses.dataclass
class Cert:
    cert: Path
    key: Path

    def client_context(self) -> ssl.SSLContext:
        """What a charger provisioned with our certificate uses: verify chain and host name."""
        return ssl.create_default_context(cafile=str(self.cert))


METRICS_TOKEN = "tls-metrics-token-0123"


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> Cert:
    workdir = tmp_path_factory.mktemp("tls")
    cert, key = workdir / "cert.pem", workdir / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return Cert(cert, key)


@pytest.fixture(scope="module")
async def tls_system(settings: Settings, cert: Cert) -> AsyncIterator[System]:
    ocpp = OcppSettings(
        port=0,
        heartbeat_interval_s=60,
        tls_cert_file=cert.cert,
        tls_key_file=cert.key,
        metrics=MetricsSettings(token=METRICS_TOKEN),
    )
    tls_settings = dataclasses.replace(settings, ocpp=ocpp)
    engine = create_engine(tls_settings.db)
    maker = create_sessionmaker(engine)
    bus = InProcessBus()
    events = RecordingSubscriber(bus)
    await bus.start()
    bridge = create_bridge(ocpp, maker, bus)
    await bridge.start()
    yield System(tls_settings, engine, maker, bus, bridge, events)
    await bridge.close()
    await bus.close()
    await engine.dispose()


def wss_url(system: System) -> str:
    return f"wss://127.0.0.1:{system.bridge.port}/ocpp"


async def open_tls(
    system: System, identity: str, password: str, context: ssl.SSLContext, version: Version = Version.V16
) -> RawCharger:
    ws = await connect(
        f"{wss_url(system)}/{identity}",
        subprotocols=[version.value],  # type: ignore[list-item]
        additional_headers=basic_auth(identity, password),
        ssl=context,
        open_timeout=10,
    )
    return RawCharger(ws, version)


async def test_boot_over_wss_with_basic_auth(tls_system: System, cert: Cert) -> None:
    assert tls_system.settings.ocpp.tls_enabled
    for version, boot in ((Version.V16, BOOT_16), (Version.V201, BOOT_201)):
        identity = await register(tls_system)
        charger = await open_tls(tls_system, identity, PASSWORD, cert.client_context(), version)
        assert charger.ws.subprotocol == version.value
        assert (await charger.ok("BootNotification", boot))["status"] == "Accepted"
        await charger.ok("Heartbeat", {})
        await charger.close()


async def test_wrong_password_over_tls_is_401(tls_system: System, cert: Cert) -> None:
    identity = await register(tls_system)
    with pytest.raises(InvalidStatus) as caught:
        await open_tls(tls_system, identity, "not-the-right-password", cert.client_context())
    assert caught.value.response.status_code == 401
    assert "Basic" in (caught.value.response.headers.get("WWW-Authenticate") or "")


async def test_plain_ws_to_the_tls_port_fails(tls_system: System) -> None:
    # The server expects a TLS ClientHello and hangs up on plain HTTP: no HTTP answer at all
    # (not a timeout, not a 101).
    identity = await register(tls_system)
    with pytest.raises((InvalidMessage, ConnectionError, EOFError)):
        ws = await connect(
            f"ws://127.0.0.1:{tls_system.bridge.port}/ocpp/{identity}",
            subprotocols=[Version.V16.value],  # type: ignore[list-item]
            additional_headers=basic_auth(identity, PASSWORD),
            open_timeout=10,
        )
        await ws.close()  # pragma: no cover - only reached if the server spoke plain HTTP


async def test_untrusted_certificate_is_refused_by_the_client(tls_system: System) -> None:
    identity = await register(tls_system)
    with pytest.raises(ssl.SSLCertVerificationError):
        await open_tls(tls_system, identity, PASSWORD, ssl.create_default_context())


async def test_metrics_are_served_over_https_too(tls_system: System, cert: Cert) -> None:
    async with httpx.AsyncClient(verify=cert.client_context()) as http:
        reply = await http.get(
            f"https://127.0.0.1:{tls_system.bridge.port}/metrics",
            headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
            timeout=10,
        )
    assert reply.status_code == 200
    assert "laddnat_ocpp_handshakes_total" in reply.text


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_simulator_boots_and_charges_over_wss(tls_system: System, cert: Cert, version: str) -> None:
    await add_token(tls_system, f"{TAG}-{version}")
    identity = await register(tls_system)
    sim = SimulatedCharger(
        SimConfig(
            url=wss_url(tls_system),
            identity=identity,
            password=PASSWORD,
            version=version,
            id_tag=f"{TAG}-{version}",
            meter_interval_s=0.05,
            ssl_context=cert.client_context(),
        )
    )
    await sim.connect()
    try:
        assert (await sim.boot())["status"] == "Accepted"
        await sim.charge(0.3)
    finally:
        await sim.close()
    [tx] = await transactions(tls_system, identity)
    assert tx.status == "completed"
    assert tx.id_token == f"{TAG}-{version}"
    assert tx.energy_wh > 0
