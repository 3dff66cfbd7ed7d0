"""The health phase's corpus step: every scripted fault of devtools/simulator/faults.py once
and every healthy routine once, against the phase's running server at its thresholds.

Each script gets a site of its own (``Fault.chargers`` chargers of one site, else one) and
chargers of a model of their own (vendor ``Corpus``, the model named after the script), so
that comparing a charger with its model's others never groups unrelated scripts. Scripts run
``CONCURRENCY`` at a time. A fault is injected into every charger of its site; the first
incident its site opened is its answer (kind, cause, topic, confidence), read again once an
``unknown`` cause has had time to be refined (a 2.0.1 Faulted opens before the NotifyEvent
that explains it) and once a site's window has passed (a site incident takes in its chargers'
own). Then the fault is recovered, unless the CSMS's remediation heals it (``healed_by``).
A healthy routine just runs: whatever incident its site ever gets is a false positive, read
with the rest at the end of the phase.

The fault's own ``kind``, ``cause`` and ``topic`` are the truth it is scored against.
"""

from __future__ import annotations

import asyncio
import time
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Any

import httpx

from app.core.settings import HealthSettings
from bench.db import BenchCharger, BenchSite
from devtools.simulator import SimConfig, SimulatedCharger, SimulatorError
from devtools.simulator.faults import FAULTS, HEALTHY, Fault, Routine, car_tags

VENDOR = "Corpus"
CONCURRENCY = 16
POLL_S = 0.5
# An incident opened `unknown` may be refined by what follows (a 2.0.1 NotifyEvent).
REFINE_S = 3.0
# The failed-starts detector waits this long (monitor time) for an accepted remote start to
# become a transaction: the corpus's remote starts time out on the charger after 1 s, and
# nothing else in the health phase sends a remote start, so the server gets this instead of
# its 180 s default (LADDNAT_HEALTH_REMOTE_START_TIMEOUT_S).
REMOTE_START_TIMEOUT_S = 10.0
REMOTE_STARTS = 2  # the detector's default run of misses
# A script starts once the bridge's boot configuration has reached its chargers (a charger in
# its steady state, as the fleet's are): waited for at most this long.
BOOT_CONFIG_WAIT_S = 5.0


def model_of(name: str) -> str:
    """A charger model of the script's own: its name, shortened with a checksum to the 20
    characters OCPP allows (1.6 chargePointModel, 2.0.1 model)."""
    if len(name) <= 20:
        return name
    return f"{name[:15]}-{zlib.crc32(name.encode()) & 0xFFFF:04x}"


@dataclass
class CorpusRun:
    """One script on its own site, and what came of it."""

    script: Fault | Routine
    location_id: uuid.UUID
    identities: list[str]
    sims: list[SimulatedCharger] = field(default_factory=list)
    incident: dict[str, Any] | None = None  # a fault's first incident, as the API lists it
    detected_s: float | None = None  # from the end of the injection to the incident listed
    error: str = ""

    @property
    def fault(self) -> Fault | None:
        return self.script if isinstance(self.script, Fault) else None

    @property
    def right_cause(self) -> bool:
        return self.fault is not None and self.incident is not None and self.incident["cause"] == self.fault.cause

    @property
    def right_kind(self) -> bool:
        return self.fault is not None and self.incident is not None and self.incident["kind"] == self.fault.kind


def plan_corpus(first_number: int) -> tuple[list[BenchSite], list[BenchCharger], list[CorpusRun]]:
    """Sites, chargers and runs for every fault and healthy routine; chargers numbered from
    ``first_number``."""
    sites: list[BenchSite] = []
    chargers: list[BenchCharger] = []
    runs: list[CorpusRun] = []
    number = first_number
    scripts: list[Fault | Routine] = [*FAULTS.values(), *HEALTHY.values()]
    for script in scripts:
        what = "fault" if isinstance(script, Fault) else "healthy"
        site = BenchSite(uuid.uuid4(), f"Bench corpus {what} {script.name}")
        sites.append(site)
        identities = []
        for _ in range(script.chargers if isinstance(script, Fault) else 1):
            identities.append(f"CORPUS-{number:05d}")
            version = "ocpp1.6" if script.version == "1.6" else "ocpp2.0.1"
            chargers.append(BenchCharger(number, identities[-1], version, site.id, 22.0, 3))
            number += 1
        runs.append(CorpusRun(script, site.id, identities))
    assert len({model_of(s.name) for s in scripts}) == len(scripts), "one model per script"
    return sites, chargers, runs


def configured(sim: SimulatedCharger) -> bool:
    """The bridge's boot configuration (ocpp_bridge/boot_config.py) has reached the charger:
    the sampled measurands it sets, the profile's last setting, are in effect. Otherwise a
    script's own setting (1.6 frequency faults add Frequency) could be overwritten by it."""
    for action, payload in sim.received:
        if action == "ChangeConfiguration" and payload.get("key") == "MeterValuesSampledData":
            return bool(sim.settings["MeterValuesSampledData"].value == payload.get("value"))
        if action == "SetVariables":
            for item in payload.get("setVariableData", []):
                if item["variable"]["name"] == "TxUpdatedMeasurands":
                    setting = sim.variables[("SampledDataCtrlr", "TxUpdatedMeasurands")]
                    return bool(setting.value == item["attributeValue"])
    return False


def corpus_tokens(runs: list[CorpusRun]) -> list[str]:
    """The id tags the corpus's chargers present: each its own, and the cars of its script."""
    return [
        tag for run in runs for identity in run.identities for tag in [identity, *car_tags(identity, run.script.cars)]
    ]


def detect_timeout_s(heartbeat_s: int, h: HealthSettings, fault: Fault) -> float:
    """How long a fault is waited for: silence (two heartbeat intervals + the grace), a site's
    window, an unexplained Faulted's wait, a tick or two, a margin; remote starts' timeout."""
    wait = 2 * heartbeat_s + h.offline_grace_s + h.site_window_s + h.unexplained_fault_wait_s
    wait += 2 * h.tick_interval_s + 5.0
    if fault.topic == "remote_starts":
        wait += h.remote_start_timeout_s
    return wait


class Corpus:
    """The step's runs against one server: ``url`` its OCPP endpoint, ``http`` its API
    signed in as the operator, ``charger_ids`` the API's ids by identity."""

    def __init__(
        self,
        runs: list[CorpusRun],
        *,
        url: str,
        password: str,
        http: httpx.AsyncClient,
        charger_ids: dict[str, uuid.UUID],
        heartbeat_s: int,
        h: HealthSettings,
    ) -> None:
        self.runs = runs
        self.url = url
        self.password = password
        self.http = http
        self.charger_ids = charger_ids
        self.heartbeat_s = heartbeat_s
        self.h = h
        self.healthy_done = 0.0  # monotonic: the last healthy routine's end
        self.took_s = 0.0

    async def run(self) -> None:
        began = time.monotonic()
        sem = asyncio.Semaphore(CONCURRENCY)

        async def one(run: CorpusRun) -> None:
            async with sem:
                try:
                    await self.connect(run)
                    script = run.script
                    if isinstance(script, Fault):
                        await self.fault(run, script)
                    else:
                        await asyncio.gather(*(script.run(sim) for sim in run.sims))
                except Exception as exc:  # counted in the table; the other runs carry on
                    run.error = run.error or f"{type(exc).__name__}: {str(exc)[:80]}"
                if run.fault is None:
                    self.healthy_done = max(self.healthy_done, time.monotonic())

        # The healthy routines first: their quiet is read after the longest wait.
        await asyncio.gather(*(one(run) for run in sorted(self.runs, key=lambda r: r.fault is not None)))
        self.took_s = time.monotonic() - began

    async def connect(self, run: CorpusRun) -> None:
        """The run's chargers connected, booted, Available and configured (into ``run.sims``,
        so the step closes whichever connected)."""
        for identity in run.identities:
            sim = SimulatedCharger(
                SimConfig(
                    url=self.url,
                    identity=identity,
                    password=self.password,
                    version=run.script.version,
                    id_tag=identity,
                    vendor=VENDOR,
                    model=model_of(run.script.name),
                    meter_interval_s=0.01,  # as the scenario tests run them
                    **run.script.config,
                )
            )
            run.sims.append(sim)
            await sim.connect()
            answer = await sim.boot()
            if answer.get("status") != "Accepted":
                raise SimulatorError(f"{identity}: boot {answer.get('status')}")
            for connector in sim.connectors:
                await sim.status(connector, "Available")
        deadline = time.monotonic() + BOOT_CONFIG_WAIT_S
        while not all(configured(sim) for sim in run.sims) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    async def fault(self, run: CorpusRun, fault: Fault) -> None:
        # The CSMS may act while a script is still going (a boot loop is one from its third boot
        # on, and its playbook's reset races the script's own reboots): what the script did is
        # still judged.
        failed = [
            e for e in await asyncio.gather(*(fault.inject(sim) for sim in run.sims), return_exceptions=True) if e
        ]
        if failed:
            run.error = f"while injecting: {type(failed[0]).__name__}: {str(failed[0])[:80]}"
        if fault.topic == "remote_starts":  # the CSMS starts sessions the charger cannot see
            await self.remote_starts(run.identities[0], REMOTE_STARTS)
        injected = time.monotonic()
        deadline = injected + detect_timeout_s(self.heartbeat_s, self.h, fault)
        incident = await self.first_incident(run.location_id, deadline)
        if incident is not None:
            run.detected_s = time.monotonic() - injected
            if len(run.identities) > 1:  # a site incident takes in its chargers' own
                await asyncio.sleep(self.h.site_window_s + 2 * self.h.tick_interval_s)
                incident = await self.first_incident(run.location_id, time.monotonic()) or incident
            refine_until = time.monotonic() + REFINE_S
            while incident["cause"] == "unknown" and time.monotonic() < refine_until:
                await asyncio.sleep(POLL_S)
                incident = await self.first_incident(run.location_id, time.monotonic()) or incident
        run.incident = incident
        if fault.healed_by is None:
            await asyncio.gather(*(fault.recover(sim) for sim in run.sims))
            if fault.topic == "remote_starts":
                await self.remote_starts(run.identities[0], 1)  # now the car is seen

    async def first_incident(self, location_id: uuid.UUID, deadline: float) -> dict[str, Any] | None:
        """The site's earliest incident not merged into another, polled until ``deadline``."""
        while True:
            answer = await self.http.get(
                "/api/v1/operator/incidents", params={"locationId": str(location_id), "limit": 50}
            )
            answer.raise_for_status()
            items = [i for i in answer.json()["items"] if i.get("resolution") != "merged"]
            if items:
                return min(items, key=lambda i: str(i["openedAt"]))
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(POLL_S)

    async def remote_starts(self, identity: str, count: int) -> None:
        for _ in range(count):
            answer = await self.http.post(
                f"/api/v1/operator/chargers/{self.charger_ids[identity]}/commands/remote-start",
                json={"idToken": identity, "evse": 1},
            )
            answer.raise_for_status()

    async def close(self) -> None:
        await asyncio.gather(*(sim.close() for run in self.runs for sim in run.sims), return_exceptions=True)
