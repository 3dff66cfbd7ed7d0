"""Simulated chargers (OCPP 1.6J and 2.0.1) for demos, load and fault-detection tests.

sim = SimulatedCharger(SimConfig("ws://127.0.0.1:9000/ocpp", "SIM-0001", "secret"))
await sim.connect()
await sim.boot()
await sim.charge(30)
await sim.close()

The package: ``charger/`` (SimulatedCharger, one module per concern), ``charge_point.py``,
``v16.py``, ``v201.py`` and ``v201_device_model.py`` (answering the CSMS's calls),
``model.py`` (connectors and the electrical model), ``config.py``, ``errors.py``,
``smart.py`` (charging-profile maths), ``upload.py`` (diagnostics uploads), ``faults.py``
(the scripted fault corpus) and ``cli.py`` (``laddnat simulate``).
"""

from devtools.simulator.charger import SimulatedCharger
from devtools.simulator.charger.configuration import Setting
from devtools.simulator.charger.core import QueuedCall
from devtools.simulator.config import SimConfig
from devtools.simulator.errors import (
    AuthorizationRejected,
    CallFailed,
    ConnectFailed,
    ConnectionLost,
    NotConnected,
    SimulatorError,
)
from devtools.simulator.model import Reading

__all__ = [
    "AuthorizationRejected",
    "CallFailed",
    "ConnectFailed",
    "ConnectionLost",
    "NotConnected",
    "QueuedCall",
    "Reading",
    "Setting",
    "SimConfig",
    "SimulatedCharger",
    "SimulatorError",
]
