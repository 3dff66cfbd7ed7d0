"""`laddnat simulate`: one or many simulated chargers running a scenario, one line per step."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import ssl
import sys
from collections.abc import Awaitable, Callable

from devtools.simulator.charger import SimulatedCharger
from devtools.simulator.config import SimConfig
from devtools.simulator.errors import AuthorizationRejected, ConnectFailed, SimulatorError
from devtools.simulator.faults import FAULTS

DEFAULT_URL = "ws://127.0.0.1:9000/ocpp"
SCENARIOS = ("charge", "serve", "fault", "error", "overheat", "voltage-sag", "offline", "reboot", "scripted")

Say = Callable[[str], None]
Scenario = Callable[[SimulatedCharger, argparse.Namespace, Say], Awaitable[None]]


def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=DEFAULT_URL, help=f"OCPP base URL (default {DEFAULT_URL})")
    parser.add_argument("--identity", help="charger identity; with --count the prefix of {identity}-001...")
    parser.add_argument("--password", help="HTTP Basic password (omit for no auth)")
    parser.add_argument("--version", choices=("1.6", "2.0.1"), default="1.6", help="OCPP version")
    parser.add_argument("--id-tag", default="DEMO-TAG-0001", help="RFID tag presented to start")
    parser.add_argument("--kw", type=float, default=11.0, help="charging power in kW (default 11)")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between meter values (default 5)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of charging (default 30)")
    parser.add_argument("--count", type=int, help="run N chargers named {identity}-001..")
    parser.add_argument("--scenario", choices=SCENARIOS, default="charge")
    parser.add_argument(
        "--error-code",
        default="GroundFailure",
        help="error code for --scenario error (1.6 ChargePointErrorCode or 2.0.1 techCode)",
    )
    parser.add_argument(
        "--fault-after",
        type=float,
        default=0.0,
        help="for --scenario fault: first charge with --id-tag for this many seconds, then fault "
        "mid-session (the card's driver sees it in the app's live stream); 0: fault at once",
    )
    parser.add_argument(
        "--fault",
        choices=sorted(FAULTS),
        default="internal-error",
        help="for --scenario scripted: a fault of devtools/simulator/faults.py (its OCPP version wins); "
        "recovers after --duration unless the CSMS healed it",
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="simulated seconds per real second, e.g. 60 to deliver an hour's energy per minute",
    )
    parser.add_argument("--connectors", type=int, default=1, help="connectors per charger")
    parser.add_argument(
        "--meter-start", type=int, default=0, help="energy register (Wh) at start, to continue a previous run"
    )
    parser.add_argument("--ca-file", help="wss: CA bundle to verify the server with")
    parser.add_argument("--insecure", action="store_true", help="wss: do not verify the server certificate")


def _ssl_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    if not str(args.url).startswith("wss://"):
        return None
    ctx = ssl.create_default_context(cafile=getattr(args, "ca_file", None))
    if getattr(args, "insecure", False):
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def build_configs(args: argparse.Namespace) -> list[SimConfig]:
    count = args.count
    if count is None and not args.identity:
        raise ValueError("--identity is required (or give --count N)")
    if count is not None and count < 1:
        raise ValueError("--count must be at least 1")
    if count is None:
        identities = [str(args.identity)]
    else:
        prefix = args.identity or "SIM"
        identities = [f"{prefix}-{i:03d}" for i in range(1, count + 1)]
    context = _ssl_context(args)
    configs = [
        SimConfig(
            url=args.url,
            identity=identity,
            password=args.password,
            version=args.version,
            id_tag=args.id_tag,
            power_kw=args.kw,
            meter_interval_s=args.interval,
            connectors=getattr(args, "connectors", 1) or 1,
            meter_start_wh=getattr(args, "meter_start", 0) or 0,
            ssl_context=context,
            time_scale=getattr(args, "speed", 1.0) or 1.0,
        )
        for identity in identities
    ]
    if getattr(args, "scenario", None) == "scripted":
        fault = FAULTS[args.fault]  # its OCPP version, and what its script needs of the hardware
        configs = [dataclasses.replace(c, version=fault.version, **fault.config) for c in configs]
    return configs


async def run_simulation(args: argparse.Namespace) -> int:
    """Run the scenario on every charger at once; 0 when all succeeded, else 1."""
    logging.getLogger("ocpp").setLevel(logging.WARNING)
    try:
        configs = build_configs(args)
    except ValueError as exc:
        print(f"simulate: {exc}", file=sys.stderr)
        return 1
    scenario = _SCENARIOS[args.scenario]

    async def one(index: int, config: SimConfig) -> bool:
        await asyncio.sleep(0.02 * index)  # no thundering herd
        return await run_charger(config, args, scenario)

    results = await asyncio.gather(*(one(i, c) for i, c in enumerate(configs)))
    if len(configs) > 1:
        ok = sum(results)
        print(f"{ok}/{len(configs)} chargers completed the {args.scenario} scenario", flush=True)
    return 0 if all(results) else 1


async def run_charger(config: SimConfig, args: argparse.Namespace, scenario: Scenario) -> bool:
    sim = SimulatedCharger(config)

    def say(message: str) -> None:
        print(f"{config.identity} {message}", flush=True)

    def fail(message: str) -> bool:
        print(f"{config.identity} FAILED: {message}", file=sys.stderr, flush=True)
        return False

    try:
        await sim.connect()
        say(f"connected to {config.endpoint} ({config.subprotocol})")
        boot = await sim.boot()
        status = boot.get("status")
        interval = boot.get("interval")
        say(f"boot {status}" + (f" (heartbeat every {interval} s)" if interval else ""))
        if status != "Accepted":
            return fail(f"BootNotification answered {status}; the CSMS does not accept this charger")
        for connector in sim.connectors:
            await sim.status(connector, "Available")
            say(f"connector {connector} Available")
        await scenario(sim, args, say)
        say("done")
        return True
    except ConnectFailed as exc:
        return fail(f"connection failed: {exc}")
    except AuthorizationRejected as exc:
        return fail(str(exc))
    except SimulatorError as exc:
        return fail(str(exc))
    except TimeoutError:
        return fail("timed out")
    finally:
        await sim.close()


# ---------------------------------------------------------------------------- steps


def _meter_line(sim: SimulatedCharger, connector: int, note: str = "") -> str:
    r = sim.reading(connector)
    volts = min(r.voltage_v) if r.voltage_v else 0.0
    line = (
        f"meter {sim.energy_wh(connector) / 1000:.3f} kWh register, "
        f"{sim.session_energy_wh(connector) / 1000:.3f} kWh this session, "
        f"{r.power_w / 1000:.1f} kW, {volts:.0f} V, {r.temperature_c:.0f} °C"
    )
    return f"{line} {note}".rstrip()


async def _start(sim: SimulatedCharger, say: Say, connector: int = 1) -> str:
    tx = await sim.start_transaction(connector)
    say(f"transaction {tx} started on connector {connector} (id tag {sim.config.id_tag})")
    return tx


async def _charge_for(sim: SimulatedCharger, seconds: float, say: Say, connector: int = 1) -> None:
    interval = max(sim.config.meter_interval_s, 0.001)
    elapsed = 0.0
    while elapsed < seconds - 1e-9:
        step = min(interval, seconds - elapsed)
        await asyncio.sleep(step)
        elapsed += step
        await sim.send_meter_values(connector, seconds=step * sim.config.time_scale)
        say(_meter_line(sim, connector, "(queued, offline)" if not sim.online else ""))


async def _stop(sim: SimulatedCharger, say: Say, connector: int = 1, reason: str = "Local") -> None:
    tx = sim.transactions.get(connector)
    delivered = sim.session_energy_wh(connector) / 1000
    await sim.stop_transaction(connector, reason=reason)
    say(f"transaction {tx} stopped ({reason}), {delivered:.2f} kWh delivered")


async def scenario_charge(sim: SimulatedCharger, args: argparse.Namespace, say: Say) -> None:
    await _start(sim, say)
    await _charge_for(sim, args.duration, say)
    await _stop(sim, say)


async def scenario_error(sim: SimulatedCharger, args: argparse.Namespace, say: Say) -> None:
    await _start(sim, say)
    await _charge_for(sim, args.duration / 2, say)
    code = args.error_code or "GroundFailure"
    await sim.fault(1, code, info="simulated fault")
    say(f"connector 1 Faulted ({code})")
    await _stop(sim, say, reason="Other")


async def scenario_overheat(sim: SimulatedCharger, args: argparse.Namespace, say: Say) -> None:
    await _start(sim, say)
    await _charge_for(sim, args.duration / 2, say)
    steps = 5
    await sim.overheat(1, to_celsius=95.0, steps=steps)
    say(f"temperature rose to {sim.reading(1).temperature_c:.0f} °C over {steps} meter values")
    await sim.fault(1, "HighTemperature", info="thermal cut-out")
    say("connector 1 Faulted (HighTemperature): thermal cut-out")
    await _stop(sim, say, reason="Other")


async def scenario_voltage_sag(sim: SimulatedCharger, args: argparse.Namespace, say: Say) -> None:
    await _start(sim, say)
    await _charge_for(sim, args.duration / 3, say)
    await sim.voltage_sag(1, volts=190.0, steps=3)
    say(f"voltage sagged to 190 V for 3 meter values ({_meter_line(sim, 1)})")
    await _charge_for(sim, args.duration / 3, say)
    await _stop(sim, say)


async def scenario_offline(sim: SimulatedCharger, args: argparse.Namespace, say: Say) -> None:
    await _start(sim, say)
    await _charge_for(sim, args.duration / 3, say)
    await sim.go_offline()
    say("connection lost: queueing transaction messages")
    await _charge_for(sim, args.duration / 3, say)
    await _stop(sim, say)
    queued = len(sim.queue)
    say(f"{queued} messages queued while offline")
    await sim.come_online()
    say(f"back online: replayed {queued - len(sim.queue)} queued messages with their original times")


async def scenario_reboot(sim: SimulatedCharger, args: argparse.Namespace, say: Say) -> None:
    await _start(sim, say)
    await _charge_for(sim, args.duration / 2, say)
    say("rebooting (transaction ends with reason Reboot)")
    await sim.reboot()
    boot = sim.last_response("BootNotification") or {}
    say(f"boot {boot.get('status')} after reboot")


async def scenario_serve(sim: SimulatedCharger, args: argparse.Namespace, say: Say) -> None:
    """Stay online for the CSMS (the driver app, the web checkout): a remote start charges,
    with meter values every --interval, until a remote stop; runs until interrupted.

    The pace is --interval even when the CSMS configures another sample interval at boot
    (60 s by default): a demo should show progress every few seconds."""
    say("waiting for remote starts (Ctrl-C to stop)")
    interval = max(float(args.interval), 0.1)
    seen: set[str] = set()
    heard = len(sim.received)
    while True:
        await asyncio.sleep(interval)
        for action, payload in sim.received[heard:]:  # what the CSMS asked (a reset, an unlock...)
            details = ", ".join(f"{k}={v}" for k, v in payload.items() if not isinstance(v, dict | list))
            say(f"the CSMS sent {action}" + (f" ({details})" if details else ""))
        heard = len(sim.received)
        for connector, tx in list(sim.transactions.items()):
            if tx not in seen:
                seen.add(tx)
                say(f"transaction {tx} started on connector {connector}")
            await sim.send_meter_values(connector, seconds=interval * sim.config.time_scale)
            say(_meter_line(sim, connector, ""))


async def scenario_fault(sim: SimulatedCharger, args: argparse.Namespace, say: Say) -> None:
    """Report --error-code on connector 1, then stay online like ``serve``: the CSMS's
    self-healing can reset or unlock it, and after a reboot it reports healthy again.
    With --fault-after, a session with --id-tag charges that long first: the fault ends it
    (its driver is told in the app), so a reset is allowed."""
    await asyncio.sleep(1.0)
    if args.fault_after > 0:
        await _start(sim, say)
        await _charge_for(sim, args.fault_after, say)
    code = args.error_code or "InternalError"
    await sim.fault(1, code, info="simulated fault")
    say(f"connector 1 Faulted ({code}); waiting for the CSMS")
    await scenario_serve(sim, args, say)


async def scenario_scripted(sim: SimulatedCharger, args: argparse.Namespace, say: Say) -> None:
    """--fault NAME: the fault, --duration seconds for the CSMS to notice and act, then the
    recovery (unless the CSMS's remediation healed it already)."""
    fault = FAULTS[args.fault]
    await fault.inject(sim)
    say(f"fault {fault.name}: {fault.summary}")
    await asyncio.sleep(args.duration)
    if fault.healed_by is not None and any(action == fault.healed_by for action, _ in sim.received):
        say(f"healed by the CSMS ({fault.healed_by})")
        return
    await fault.recover(sim)
    say(f"recovered from {fault.name}")


_SCENARIOS: dict[str, Scenario] = {
    "charge": scenario_charge,
    "serve": scenario_serve,
    "fault": scenario_fault,
    "error": scenario_error,
    "overheat": scenario_overheat,
    "voltage-sag": scenario_voltage_sag,
    "offline": scenario_offline,
    "reboot": scenario_reboot,
    "scripted": scenario_scripted,
}
