"""The scenario corpus: every scripted fault of devtools/simulator/faults.py, on simulator
chargers over real sockets, against the bridge, the API and the health monitor with
self-healing on. For each fault the incident opens with the right kind and cause, its
playbook acts (the steps in the incident's trail and the charger's command log), and the
incident resolves once the charger recovers. The healthy runs open nothing.

One stack serves the module. The thresholds are short so the corpus stays fast; a step has
30 s to heal, longer than any scenario takes to recover, so a trail holds the diagnostics
(for the causes the charger's logs may explain) and the first step alone
(tests/e2e/test_playbooks.py covers the escalation).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.chargers.models import ChargePoint
from app.core.settings import HealthSettings, Settings
from app.drivers.models import IdToken
from app.health.playbooks import DIAGNOSED_CAUSES
from devtools.simulator import SimulatedCharger
from devtools.simulator.faults import FAULTS, HEALTHY, Fault, Routine, car_tags
from tests.e2e.health.health_stack import OFFLINE_GRACE_S, HealthStack, eventually, running_health_stack

pytestmark = pytest.mark.one_database

CORPUS_HEALTH = HealthSettings(
    offline_grace_s=OFFLINE_GRACE_S,
    site_window_s=1.0,
    tick_interval_s=0.2,
    remote_start_timeout_s=1.0,
    # Four boots in 3 s: a fault's own reset and a firmware reboot stay below it.
    boot_loop_count=4,
    boot_loop_window_s=3.0,
    playbook_verify_s=30.0,
    reset_wait_for_idle_s=2.0,
    diagnostics_wait_s=5.0,
    # A closed socket has 3 s to come back (silence has 7 s): the healthy network
    # drops and slow firmware reboots of faults.py (BLIP_S, FIRMWARE_REBOOT_S) fit around it.
    reconnect_grace_s=3.0,
)
# What each playbook step sends (app/health/playbooks/).
STEP_COMMANDS = {
    "collect_diagnostics": "get-diagnostics",
    "soft_reset": "reset",
    "unlock": "unlock-connector",
    "limit_power": "set-charging-profile",
    "trigger_meter_values": "trigger-message",
    "out_of_service": "change-availability",
}
# Nothing on the charger heals these; on recovery the CSMS asks for a status report.
STATUS_REPORT_CAUSES = {"grid_supply", "site_network"}


@dataclass
class Api:
    """The operator API as the assertions read it."""

    http: httpx.AsyncClient
    stack: HealthStack

    async def incidents(self, **params: str) -> list[dict[str, Any]]:
        answer = await self.http.get("/api/v1/operator/incidents", params={"limit": "100", **params})
        assert answer.status_code == 200, answer.text
        items: list[dict[str, Any]] = answer.json()["items"]
        return items

    async def incident(self, incident_id: str) -> dict[str, Any]:
        answer = await self.http.get(f"/api/v1/operator/incidents/{incident_id}")
        assert answer.status_code == 200, answer.text
        detail: dict[str, Any] = answer.json()
        return detail

    async def commands(self, identity: str) -> list[dict[str, Any]]:
        answer = await self.http.get(f"/api/v1/operator/chargers/{await self.charger_id(identity)}/commands")
        assert answer.status_code == 200, answer.text
        return [c for c in answer.json()["items"] if c["origin"] == "health"]

    async def command(self, identity: str, name: str, args: dict[str, Any]) -> dict[str, Any]:
        charger_id = await self.charger_id(identity)
        answer = await self.http.post(f"/api/v1/operator/chargers/{charger_id}/commands/{name}", json=args)
        assert answer.status_code == 200, answer.text
        sent: dict[str, Any] = answer.json()
        return sent

    async def charger_id(self, identity: str) -> uuid.UUID:
        async with self.stack.maker() as db:
            found = await db.scalar(select(ChargePoint.id).where(ChargePoint.identity == identity))
        assert found is not None
        return found


# What the CSMS does in a scenario beside the charger's script: before recovery, then after.
Csms = Callable[[Api, str, bool], Awaitable[None]]


async def remote_starts(api: Api, identity: str, recovered: bool) -> None:
    """Two remote starts from the app while the charger cannot see the car; one more after."""
    for _ in range(1 if recovered else 2):
        sent = await api.command(identity, "remote-start", {"idToken": identity, "evse": 1})
        assert sent["status"] == "Accepted"


@dataclass(frozen=True)
class Case:
    """What the test adds to a scripted fault: the playbook's steps it expects and what the
    CSMS does beside the script. The truth (kind, cause, topic) is the fault's own."""

    fault: str
    steps: tuple[str, ...] = ()  # the playbook's steps, in the trail in this order; () none
    csms: Csms | None = None

    def __str__(self) -> str:
        return self.fault

    @property
    def kind(self) -> str:
        return FAULTS[self.fault].kind

    @property
    def cause(self) -> str:
        return FAULTS[self.fault].cause

    @property
    def topic(self) -> str:
        return FAULTS[self.fault].topic

    @property
    def trail(self) -> tuple[str, ...]:
        """The actions expected in the trail: the charger's diagnostics first where its logs
        may explain the cause, then the playbook's steps."""
        return ("collect_diagnostics", *self.steps) if self.cause in DIAGNOSED_CAUSES else self.steps


CORPUS = [
    # Every OCPP 1.6 error code in StatusNotification.
    Case("connector-lock-failure", ("unlock",)),
    Case("ev-communication-error", ("soft_reset",)),
    Case("ground-failure"),
    Case("high-temperature", ("limit_power",)),
    Case("internal-error", ("soft_reset",)),
    Case("local-list-conflict", ("soft_reset",)),
    Case("other-error"),
    Case("over-current-failure"),
    Case("over-voltage"),
    Case("power-meter-failure", ("trigger_meter_values",)),
    Case("power-switch-failure", ("soft_reset",)),
    Case("reader-failure", ("soft_reset",)),
    Case("reset-failure", ("soft_reset",)),
    Case("under-voltage"),
    Case("weak-signal"),
    # 2.0.1: Faulted with a Problem event, and a Problem event alone.
    Case("v201-internal-error", ("soft_reset",)),
    Case("v201-connector-lock-failure", ("unlock",)),
    Case("v201-reader-failure-problem", ("soft_reset",)),
    Case("offline"),
    Case("silent"),
    Case("site-offline"),
    Case("overheat-charging", ("limit_power",)),
    Case("heat-idle", ("limit_power",)),
    Case("v201-overheat", ("limit_power",)),
    Case("undervoltage"),
    Case("overvoltage-phase"),
    Case("lost-phase"),
    Case("frequency"),
    Case("v201-frequency"),
    Case("site-undervoltage"),
    Case("stuck-meter", ("trigger_meter_values",)),
    Case("meter-backwards", ("trigger_meter_values",)),
    Case("idle-energy", ("trigger_meter_values",)),
    Case("meter-overcounts", ("trigger_meter_values",)),
    Case("remote-starts-unseen", ("soft_reset",), csms=remote_starts),
    Case("v201-remote-starts-unseen", ("soft_reset",), csms=remote_starts),
    Case("short-sessions"),
    Case("ev-side-stops", ("soft_reset",)),
    Case("v201-ev-side-stops", ("soft_reset",)),
    Case("boot-loop", ("soft_reset",)),
    Case("firmware-download-failed", ("soft_reset",)),
    Case("v201-firmware-invalid-signature", ("soft_reset",)),
    Case("firmware-installation-failed", ("soft_reset",)),
    Case("thermal-runaway", ("limit_power",)),
    Case("v201-thermal-runaway", ("limit_power",)),
    Case("over-current-recurring", ("out_of_service",)),
    Case("v201-over-current-recurring", ("out_of_service",)),
    Case("v201-offline"),
]


def twin(fault: str, of: str) -> Case:
    """A 2.0.1 fault diagnosed and healed as its 1.6 twin is."""
    case = next(c for c in CORPUS if c.fault == of)
    truth = FAULTS[fault]
    assert (truth.kind, truth.cause, truth.topic) == (case.kind, case.cause, case.topic), f"{fault} is {of}'s twin"
    return Case(fault, case.steps, case.csms)


CORPUS += [
    twin("v201-plug-retention-lock", "connector-lock-failure"),
    twin("v201-connected-ev", "ev-communication-error"),
    twin("v201-rcd-tripped", "ground-failure"),
    twin("v201-temperature-sensor-tripped", "high-temperature"),
    twin("v201-over-current-protection", "over-current-failure"),
    twin("v201-electrical-feed", "under-voltage"),
    twin("v201-fiscal-metering", "power-meter-failure"),
    twin("v201-power-contactor", "power-switch-failure"),
    twin("v201-token-reader-problem", "reader-failure"),
    twin("v201-data-link-problem", "weak-signal"),
    # Faulted and nothing says why: the log, then a soft reset.
    Case("faulted-unexplained", ("soft_reset",)),
    Case("v201-faulted-unexplained", ("soft_reset",)),
    twin("v201-ground-fault-stop", "ground-failure"),
]

# Detectors whose scenarios are still to come.
NOT_YET = {"anomaly"}


def test_the_corpus_covers_every_fault_detector_and_cause() -> None:
    from app.health.signals import CAUSES, KINDS

    assert {c.fault for c in CORPUS} == set(FAULTS)
    assert {c.kind for c in CORPUS} == set(KINDS) - NOT_YET
    assert {c.cause for c in CORPUS} == set(CAUSES)
    assert {FAULTS[c.fault].version for c in CORPUS} == {"1.6", "2.0.1"}


@pytest.fixture(scope="module")
async def corpus(settings: Settings) -> AsyncIterator[HealthStack]:
    async with running_health_stack(settings, CORPUS_HEALTH) as stack:
        yield stack


@pytest.fixture(scope="module")
async def api(corpus: HealthStack) -> AsyncIterator[Api]:
    headers = await corpus.operator_headers()
    async with httpx.AsyncClient(base_url=corpus.base_url, headers=headers, timeout=30.0) as http:
        yield Api(http, corpus)


async def chargers(
    stack: HealthStack, script: Fault | Routine, count: int = 1
) -> tuple[uuid.UUID, list[SimulatedCharger]]:
    """A site of ``count`` connected chargers of the script's OCPP version, with the cars'
    id tags it presents accepted."""
    location, identities = await stack.site(count, prefix="SCN")
    async with stack.maker() as db:
        for identity in identities:
            db.add_all(IdToken(token=tag, status="Accepted") for tag in car_tags(identity, script.cars))
        await db.commit()
    sims = [await stack.charger(i, version=script.version, **script.config) for i in identities]
    return location, sims


def actions(detail: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["data"] for e in detail["trail"] if e["kind"] == "action"]


@pytest.mark.parametrize("case", CORPUS, ids=str)
async def test_fault_opens_its_incident_is_remedied_and_resolves(corpus: HealthStack, api: Api, case: Case) -> None:
    fault = FAULTS[case.fault]
    location, sims = await chargers(corpus, fault, fault.chargers)
    identity = sims[0].identity
    await asyncio.gather(*(fault.inject(sim) for sim in sims))
    if case.csms is not None:
        await case.csms(api, identity, False)

    async def opened() -> dict[str, Any] | None:
        found = await api.incidents(locationId=str(location), kind=case.kind)
        # A 2.0.1 Faulted opens the incident as `unknown` before the NotifyEvent that
        # explains it refines the cause: wait for the diagnosis, then check it.
        if not found or (found[0]["cause"] == "unknown" and case.cause != "unknown"):
            return None
        return found[0]

    incident = await eventually(opened, f"{case.fault}: a {case.kind} incident opens with its diagnosis")
    assert (incident["cause"], incident["topic"]) == (case.cause, case.topic), incident["summary"]
    assert incident["site"] is (fault.chargers > 1)
    if not incident["site"]:
        assert incident["chargerIdentity"] == identity

    async def acted() -> dict[str, Any] | None:
        detail = await api.incident(incident["id"])
        return detail if len(actions(detail)) >= len(case.trail) else None

    # The first step acts while the fault is on (or heals it: healed_by).
    await eventually(acted, f"{case.fault}: the playbook acts ({case.trail})")
    for sim in sims:
        await sim.wait_background()  # a reset's reboot has finished
    if fault.healed_by is not None:
        assert any(action == fault.healed_by for sim in sims for action, _ in sim.received)
    else:
        await asyncio.gather(*(fault.recover(sim) for sim in sims))
        if case.csms is not None:
            await case.csms(api, identity, True)

    async def resolved() -> dict[str, Any] | None:
        detail = await api.incident(incident["id"])
        return detail if detail["state"] == "resolved" else None

    detail = await eventually(resolved, f"{case.fault}: the incident resolves once the charger recovers")
    assert detail["resolution"] == "automatic"
    assert [(a["step"], a["outcome"].split(":")[0]) for a in actions(detail)] == [
        (step, "answered") for step in case.trail
    ]
    assert len(detail["diagnostics"]) == (1 if "collect_diagnostics" in case.trail else 0)
    expected = [STEP_COMMANDS[step] for step in case.trail]
    if case.cause in STATUS_REPORT_CAUSES:
        expected.append("trigger-message")

    async def logged() -> list[dict[str, Any]] | None:
        sent = await api.commands(identity)
        done = len(sent) >= len(expected) and all(c["outcome"] != "pending" for c in sent)
        return sent if done else None

    sent = await eventually(logged, f"{case.fault}: the command log holds {expected}")
    assert sorted(c["name"] for c in sent) == sorted(expected)
    assert [(c["name"], c["outcome"]) for c in sent if c["outcome"] != "answered"] == []
    if case.cause in STATUS_REPORT_CAUSES:
        report = next(c for c in sent if c["name"] == "trigger-message")
        assert report["args"]["message"] == "StatusNotification"
    # One fault, one incident: no other detector took it for something else.
    assert [i["id"] for i in await api.incidents(locationId=str(location))] == [incident["id"]]


# ------------------------------------------------------------------------------ healthy controls


@dataclass
class Control:
    routine: Routine
    location: uuid.UUID
    sims: list[SimulatedCharger]


@pytest.fixture(scope="module")
async def controls(corpus: HealthStack) -> dict[str, Control]:
    """Every healthy routine at once, each on a site of its own; then the clock moved on,
    heartbeats only, past every threshold that time alone trips (offline: 7 s of silence;
    a boot loop's window), the monitor's pass made at each step."""
    out: dict[str, Control] = {}
    for routine in HEALTHY.values():
        location, sims = await chargers(corpus, routine, 2 if routine.name == "idle" else 1)
        out[routine.name] = Control(routine, location, sims)
    await asyncio.gather(*(control.routine.run(sim) for control in out.values() for sim in control.sims))
    await corpus.advance(max(2 * 1 + CORPUS_HEALTH.offline_grace_s, CORPUS_HEALTH.boot_loop_window_s) + 1.0)
    return out


@pytest.mark.parametrize("name", list(HEALTHY))
async def test_healthy_run_opens_nothing(controls: dict[str, Control], api: Api, name: str) -> None:
    control = controls[name]
    opened = await api.incidents(locationId=str(control.location))
    assert [(i["kind"], i["topic"], i["summary"]) for i in opened] == []
    for sim in control.sims:
        assert not sim.errors
        assert await api.commands(sim.identity) == []


async def test_a_scripted_fault_through_the_cli(
    corpus: HealthStack, api: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    """`laddnat simulate --scenario scripted --fault stuck-meter` against a running system."""
    import argparse

    from devtools.simulator.cli import add_cli_arguments, build_configs, run_charger, scenario_scripted
    from tests.e2e.ocpp_helpers import PASSWORD

    location, [identity] = await corpus.site(1, prefix="CLI")
    async with corpus.maker() as db:
        db.add(IdToken(token=identity, status="Accepted"))
        await db.commit()
    parser = argparse.ArgumentParser()
    add_cli_arguments(parser)
    args = parser.parse_args(
        [
            *("--url", f"ws://127.0.0.1:{corpus.bridge_port}/ocpp", "--identity", identity, "--password", PASSWORD),
            *("--id-tag", identity, "--scenario", "scripted", "--fault", "stuck-meter", "--duration", "1"),
        ]
    )
    assert await run_charger(build_configs(args)[0], args, scenario_scripted)
    out = capsys.readouterr().out
    assert f"{identity} fault stuck-meter: " in out and f"{identity} recovered from stuck-meter" in out

    async def resolved() -> dict[str, Any] | None:
        found = await api.incidents(locationId=str(location), kind="metering", state="resolved")
        return found[0] if found else None

    incident = await eventually(resolved, "the CLI's stuck meter opened an incident that resolved")
    assert (incident["cause"], incident["topic"]) == ("metering", "stuck")
