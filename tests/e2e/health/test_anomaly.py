"""The anomaly detector through real chargers: a charger whose voltage has always been
230 V drops to 214 V (inside the band: no rule fires), an incident of kind ``anomaly``
opens with the model's score and features, and resolves when the voltage returns; the
baseline it learned survives a restart of the API."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.core.settings import HealthSettings, Settings
from app.health.models import HealthBaseline, Incident
from devtools.simulator import SimConfig, SimulatedCharger
from devtools.simulator.model import NOMINAL_VOLTAGE_V
from tests.e2e.health.health_stack import OFFLINE_GRACE_S, HealthStack, eventually, running_health_stack
from tests.e2e.ocpp_helpers import PASSWORD

# What the detectors and playbooks make of events; the incidents' storage is checked on
# both databases by health/test_incidents.py.
pytestmark = pytest.mark.one_database

WARMUP = 20
DETECTION = HealthSettings(
    offline_grace_s=OFFLINE_GRACE_S,
    site_window_s=1.0,
    tick_interval_s=0.2,
    self_healing=False,
    anomaly_warmup_samples=WARMUP,
    anomaly_save_interval_s=0.5,
)


async def anomaly(stack: HealthStack, identity: str, state: str) -> Incident:
    async def probe() -> Incident | None:
        found = await stack.incidents(identity=identity, kind="anomaly", state=state)
        return found[0] if found else None

    return await eventually(probe, f"an anomaly incident {state}")


async def test_an_in_band_voltage_shift_opens_an_anomaly_that_resolves_and_survives_a_restart(
    settings: Settings,
) -> None:
    async with running_health_stack(settings, DETECTION) as stack:
        _, [identity] = await stack.site(1, prefix="ANOM")
        sim = await stack.charger(identity)
        for _ in range(WARMUP + 5):
            await sim.send_meter_values(1)
        sim.connector(1).voltage_v = 214.0  # in band (207..253 V): the supply rule stays quiet
        for _ in range(DETECTION.anomaly_samples):
            await sim.send_meter_values(1)
        incident = await anomaly(stack, identity, "open")
        assert (incident.cause, incident.severity, incident.topic, incident.evse) == ("unknown", "warning", "meter", 1)
        assert await stack.incidents(identity=identity, kind="power_supply") == []

        headers = await stack.operator_headers()
        async with httpx.AsyncClient(base_url=stack.base_url, headers=headers) as http:
            page = (await http.get("/api/v1/operator/incidents", params={"kind": "anomaly"})).json()
            assert [item["id"] for item in page["items"]] == [str(incident.id)]
            detail = (await http.get(f"/api/v1/operator/incidents/{incident.id}")).json()
        assert detail["kind"] == "anomaly" and "voltage" in detail["summary"]
        evidence: dict[str, Any] = detail["evidence"]["chain"][0]["evidence"]
        assert evidence["score"] > evidence["threshold"] == DETECTION.anomaly_threshold
        assert evidence["state"] == "idle" and evidence["model"]["warmupSamples"] == WARMUP
        first = evidence["features"][0]
        assert first["feature"].startswith("voltage:L") and first["value"] == 214.0
        assert first["mean"] == NOMINAL_VOLTAGE_V and first["z"] < -DETECTION.anomaly_threshold
        assert [s["volts"]["L1-N"] for s in evidence["samples"]] == [214.0] * DETECTION.anomaly_samples

        sim.connector(1).voltage_v = NOMINAL_VOLTAGE_V
        for _ in range(DETECTION.anomaly_samples):
            await sim.send_meter_values(1)
        resolved = await anomaly(stack, identity, "resolved")
        assert resolved.id == incident.id and resolved.resolution == "automatic"

        async def saved() -> HealthBaseline | None:
            async with stack.maker() as db:
                row = await db.scalar(select(HealthBaseline).where(HealthBaseline.identity == identity))
            return row if row is not None and row.samples >= WARMUP + 5 + DETECTION.anomaly_samples else None

        await eventually(saved, "the baseline was saved")

    # A restart: the new monitor loads the baseline, so the charger is judged at once
    # instead of after another warm-up.
    async with running_health_stack(settings, DETECTION) as stack:
        sim = SimulatedCharger(
            SimConfig(
                url=f"ws://127.0.0.1:{stack.bridge_port}/ocpp",
                identity=identity,
                password=PASSWORD,
                id_tag=identity,
                meter_interval_s=0.01,
            )
        )
        stack.sims.append(sim)
        await sim.connect()
        await sim.boot()
        await sim.status(1, "Available")
        sim.connector(1).voltage_v = 214.0
        for _ in range(WARMUP // 2):  # fewer than a warm-up: only the loaded baseline can judge
            await sim.send_meter_values(1)
            if await stack.incidents(identity=identity, kind="anomaly", state="open"):
                break
        reopened = await anomaly(stack, identity, "open")
        assert reopened.id == incident.id and reopened.flaps == 1  # the same condition, back
        link = reopened.evidence["chain"][-1]["evidence"]
        assert link["model"]["learnedSamples"] >= WARMUP + 5
