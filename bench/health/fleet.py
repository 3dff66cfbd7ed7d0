"""The healthy fleet of the health phase: simulator chargers doing what healthy ones do.

One spawned process per worker, each running its share of ``devtools.simulator``
chargers over real sockets, driven over a pipe (``connect``, ``run``, ``stop``, ``exit``)
like bench/loadgen.py. A healthy charger here, in compressed time (a session lasts
20-90 s instead of hours):

- idles between sessions, heartbeating at the interval the bridge gave it; half of them
  also send a meter value every ~30 s while idle (clock-aligned data);
- charges sessions for different cars (id tokens), Authorize then Start, a meter value
  every 5 or 10 s with a little noise on the voltage (base 224-236 V, sigma 1.5 V) and a
  temperature that follows the load (ambient 8-25 degC + ~1.1 degC per kW drawn, first order,
  sigma 0.3 degC); a third of the cars are full before the end (SuspendedEV: no power, the
  register stands still); the session ends Local or Remote;
- a few reboot once, between sessions: the socket closes and the charger is back and booted
  1-3 s later, within the bridge's offline grace period;
- a few change networks once, between sessions (a cellular modem that got a new address):
  the charger opens a new socket, without booting again, before the old one is closed; the
  bridge closes the old one ("replaced by a new connection").

Sessions never end EVDisconnected: in compressed time every session is "early", and early
EV-side ends across different cars are what the vehicle-communication detector looks for.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from bench.common import serve_commands
from devtools.simulator import SimConfig, SimulatedCharger, SimulatorError

IDLE_MEAN_S = 25.0
FIRST_SESSION_S = 20.0  # every charger's first session starts within this of the run's start
SESSION_S = (20.0, 90.0)
IDLE_METER_S = 30.0
REBOOT_DOWN_S = (1.0, 3.0)
THERMAL_TAU_S = 180.0
C_PER_KW = 1.1


@dataclass(frozen=True)
class FleetCharger:
    identity: str
    version: str  # "1.6" | "2.0.1"
    power_kw: float
    phases: int
    meter_interval_s: float
    idle_meter: bool  # a meter value every ~30 s while idle
    event: str | None = None  # once in the run: "reboot" | "new_socket"
    event_at: float = 0.5  # share of the active window after which the event comes (between sessions)


@dataclass
class FleetSpec:
    index: int
    url: str  # ws://host:port/ocpp
    password: str
    chargers: list[FleetCharger]
    tokens: list[str]
    seed: int
    concurrency: int = 16
    connect_timeout_s: float = 30.0


class _LogCounter(logging.Handler):
    """The simulator's warnings, counted instead of printed over the bench's output."""

    def __init__(self, counts: Counter[str]) -> None:
        super().__init__(logging.WARNING)
        self.counts = counts

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        # "SIM-0001: heartbeat failed: ..." -> "heartbeat failed: ..."
        _, _, rest = message.partition(": ")
        self.counts[(rest or message)[:80]] += 1


def quiet_simulator_logs(counts: Counter[str]) -> None:
    root = logging.getLogger()
    root.handlers[:] = [_LogCounter(counts)]
    root.setLevel(logging.WARNING)


@dataclass
class _Car:
    """One charger's physical state that the simulator leaves to its driver: temperature, supply."""

    ambient_c: float
    base_v: float
    celsius: float
    at: float
    next_idle_meter: float = 0.0


@dataclass
class FleetStats:
    connected: int = 0
    connect_failed: Counter[str] = field(default_factory=Counter)
    sessions: int = 0
    sessions_ended: int = 0
    meter_values: int = 0
    idle_meter_values: int = 0
    pauses: int = 0
    reboots: int = 0
    new_sockets: int = 0
    retired_heartbeats: int = 0  # sent on sockets the charger has replaced
    events: dict[str, str] = field(default_factory=dict)  # identity -> what happened to it
    errors: Counter[str] = field(default_factory=Counter)
    warnings: Counter[str] = field(default_factory=Counter)
    max_celsius: float = 0.0
    volts: tuple[float, float] = (1e9, 0.0)


class Fleet:
    def __init__(self, spec: FleetSpec, pipe: Connection) -> None:
        self.spec = spec
        self.pipe = pipe
        self.rng = random.Random(spec.seed)
        self.stats = FleetStats()
        quiet_simulator_logs(self.stats.warnings)
        self.sims: dict[str, SimulatedCharger] = {}
        self.cars: dict[str, _Car] = {}
        self.tasks: list[asyncio.Task[None]] = []
        self.start_at = 0.0
        self.until = 0.0

    async def serve(self) -> None:
        try:
            await serve_commands(self.pipe, {"connect": self.connect, "run": self.run, "stop": self.stop})
        finally:
            for task in self.tasks:
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
            await asyncio.gather(*(sim.close() for sim in self.sims.values()), return_exceptions=True)

    # -- connecting ----------------------------------------------------------------------

    async def connect(self) -> dict[str, Any]:
        sem = asyncio.Semaphore(self.spec.concurrency)

        async def one(c: FleetCharger) -> None:
            sim = SimulatedCharger(
                SimConfig(
                    url=self.spec.url,
                    identity=c.identity,
                    password=self.spec.password,
                    version=c.version,
                    id_tag=self.spec.tokens[0],
                    power_kw=c.power_kw,
                    phases=c.phases,
                    meter_interval_s=c.meter_interval_s,
                    connect_timeout_s=self.spec.connect_timeout_s,
                )
            )
            async with sem:
                try:
                    await sim.connect()
                    answer = await sim.boot()
                    if answer.get("status") != "Accepted":
                        raise SimulatorError(f"boot {answer.get('status')}")
                    await sim.status(1, "Available")
                except SimulatorError as exc:
                    self.stats.connect_failed[type(exc).__name__] += 1
                    await sim.close()
                    return
            conn = sim.connector(1)
            conn.hold_temperature = True  # the fleet drives the temperature (_Car)
            ambient = self.rng.uniform(8.0, 25.0)
            self.cars[c.identity] = _Car(ambient, self.rng.uniform(224.0, 236.0), ambient, time.monotonic())
            conn.temperature_c = ambient
            self.sims[c.identity] = sim
            self.stats.connected += 1

        await asyncio.gather(*(one(c) for c in self.spec.chargers))
        return {"connected": self.stats.connected, "connect_failed": dict(self.stats.connect_failed)}

    # -- the run ---------------------------------------------------------------------------

    async def run(self, start_at: float, active_s: float) -> dict[str, Any]:
        """Start every charger's life; returns at once. Sessions end by ``start_at + active_s``."""
        self.start_at, self.until = start_at, start_at + active_s
        for car in self.cars.values():
            car.next_idle_meter = start_at + self.rng.uniform(0.0, IDLE_METER_S)
        for c in self.spec.chargers:
            if c.identity in self.sims:
                rng = random.Random(f"{self.spec.seed}:{c.identity}")
                self.tasks.append(asyncio.create_task(self._life(c, rng), name=f"life-{c.identity}"))
        return {"running": len(self.tasks)}

    async def stop(self, grace_s: float = 30.0) -> dict[str, Any]:
        """Wait for every life to end (its session stopped); the chargers stay connected."""
        wait_s = max(0.0, self.until - time.monotonic()) + grace_s
        _, pending = await asyncio.wait(self.tasks, timeout=wait_s) if self.tasks else (set(), set())
        for task in pending:
            task.cancel()
            self.stats.errors["life still running at stop"] += 1
        s = self.stats
        heartbeats = s.retired_heartbeats + sum(
            1 for sim in self.sims.values() for action, _ in sim.sent if action == "Heartbeat"
        )
        return {
            "connected": s.connected,
            "online": sum(1 for sim in self.sims.values() if sim.online),
            "sessions": s.sessions,
            "sessions_ended": s.sessions_ended,
            "meter_values": s.meter_values,
            "idle_meter_values": s.idle_meter_values,
            "pauses": s.pauses,
            "reboots": s.reboots,
            "new_sockets": s.new_sockets,
            "events": s.events,
            "heartbeats": heartbeats,
            "errors": dict(s.errors),
            "warnings": dict(s.warnings),
            "max_celsius": s.max_celsius,
            "volts": list(s.volts),
        }

    async def _life(self, c: FleetCharger, rng: random.Random) -> None:
        await asyncio.sleep(max(0.0, self.start_at - time.monotonic()))
        event_at = None if c.event is None else self.start_at + c.event_at * (self.until - self.start_at)
        idle_for = rng.uniform(0.0, FIRST_SESSION_S)  # spread the first sessions out
        while time.monotonic() < self.until:
            sim = self.sims[c.identity]
            try:
                await self._idle(c, sim, rng, min(self.until, time.monotonic() + idle_for))
                if time.monotonic() >= self.until:
                    break
                if event_at is not None and time.monotonic() >= event_at:
                    event_at = None
                    if c.event == "reboot":
                        await self._reboot(sim, rng)
                    else:
                        await self._new_socket(c, sim)
                    self.stats.events[c.identity] = str(c.event)
                    continue
                await self._session(c, sim, rng)
            except Exception as exc:  # counted in the table; the charger carries on
                self.stats.errors[f"{type(exc).__name__}: {str(exc).partition(': ')[2][:60] or exc}"] += 1
                await asyncio.sleep(1.0)
                if not sim.online:
                    try:
                        await sim.connect()
                        await sim.boot()
                    except SimulatorError:
                        return
            idle_for = min(4 * IDLE_MEAN_S, max(3.0, rng.expovariate(1.0 / IDLE_MEAN_S)))

    async def _idle(self, c: FleetCharger, sim: SimulatedCharger, rng: random.Random, until: float) -> None:
        """Heartbeats run on their own; with ``idle_meter`` a meter value every ~30 s
        (clock-aligned data: on its own schedule, whenever that finds the charger idle)."""
        car = self.cars[c.identity]
        while (now := time.monotonic()) < until:
            if not c.idle_meter or car.next_idle_meter >= until:
                await asyncio.sleep(until - now)
                return
            await asyncio.sleep(max(0.0, car.next_idle_meter - now))
            car.next_idle_meter = time.monotonic() + rng.uniform(0.8, 1.2) * IDLE_METER_S
            self._physics(c, sim, rng)
            await sim.send_meter_values(1, seconds=0.0)
            self.stats.idle_meter_values += 1

    async def _session(self, c: FleetCharger, sim: SimulatedCharger, rng: random.Random) -> None:
        started = time.monotonic()
        ends = min(self.until, started + rng.uniform(*SESSION_S))
        full_at = ends - 0.25 * (ends - started) if rng.random() < 1 / 3 else None
        await sim.start_transaction(1, rng.choice(self.spec.tokens))
        self.stats.sessions += 1
        last = time.monotonic()
        paused = False
        while True:
            next_at = last + c.meter_interval_s * rng.uniform(0.97, 1.03)
            if next_at >= ends:
                break
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            if full_at is not None and not paused and time.monotonic() >= full_at:
                await sim.status(1, "SuspendedEV")  # the car is full: no power from here on
                paused = True
                self.stats.pauses += 1
            self._physics(c, sim, rng)
            now = time.monotonic()
            await sim.send_meter_values(1, seconds=now - last)
            last = now
            self.stats.meter_values += 1
        await asyncio.sleep(max(0.0, ends - time.monotonic()))
        await sim.stop_transaction(1, reason="Remote" if rng.random() < 0.15 else "Local")
        self.stats.sessions_ended += 1

    async def _reboot(self, sim: SimulatedCharger, rng: random.Random) -> None:
        """Power cycled between sessions: gone for 1-3 s, then connect, boot, Available."""
        await sim.go_offline()
        await asyncio.sleep(rng.uniform(*REBOOT_DOWN_S))
        await sim.connect()
        await sim.boot()
        await sim.status(1, "Available")
        self.stats.reboots += 1

    async def _new_socket(self, c: FleetCharger, old: SimulatedCharger) -> None:
        """The charger's modem changed networks: a new socket (no boot: the charger kept
        running) while the old one is still open; the bridge closes the old one."""
        new = SimulatedCharger(old.config)
        # The same charger: its interval, its configuration, its meter, the car's state.
        new.heartbeat_interval_s, new.boot_status = old.heartbeat_interval_s, old.boot_status
        new.settings, new.variables = old.settings, old.variables
        conn, was = new.connector(1), old.connector(1)
        conn.energy_wh, conn.soc = was.energy_wh, was.soc
        conn.hold_temperature, conn.temperature_c = True, was.temperature_c
        await new.come_online()  # connect, its connector's status, then heartbeats
        self.sims[c.identity] = new
        self.stats.retired_heartbeats += sum(1 for action, _ in old.sent if action == "Heartbeat")
        await old.close()
        self.stats.new_sockets += 1

    def _physics(self, c: FleetCharger, sim: SimulatedCharger, rng: random.Random) -> None:
        """Before a meter value: the temperature moves towards what the load makes it, the
        voltage wanders a little around the site's."""
        car = self.cars[c.identity]
        conn = sim.connector(1)
        now = time.monotonic()
        power_kw = sim.reading(1).power_w / 1000.0
        target = car.ambient_c + C_PER_KW * power_kw
        car.celsius += (target - car.celsius) * (1.0 - math.exp(-(now - car.at) / THERMAL_TAU_S))
        car.at = now
        conn.temperature_c = car.celsius + rng.gauss(0.0, 0.3)
        conn.voltage_v = car.base_v + rng.gauss(0.0, 1.5)
        s = self.stats
        s.max_celsius = max(s.max_celsius, conn.temperature_c)
        s.volts = (min(s.volts[0], conn.voltage_v), max(s.volts[1], conn.voltage_v))


def fleet_main(spec: FleetSpec, pipe: Connection) -> None:
    from bench.common import raise_nofile_limit, run_generator

    raise_nofile_limit()
    run_generator(Fleet(spec, pipe).serve())
