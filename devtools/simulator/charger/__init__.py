"""A simulated charger speaking OCPP 1.6J or 2.0.1 over a real WebSocket.

Built on the client side of the ``ocpp`` library: our calls go out with
``ChargePoint.call`` while the library's receive loop (``ChargePoint.start``) runs as a
task and answers the CSMS's calls through the ``@on`` handlers in
:mod:`devtools.simulator.v16` and :mod:`devtools.simulator.v201`.

Transaction messages (start, meter values, stop) made while offline are queued with the
timestamps they had when they happened and replayed in order on reconnect, as the spec
asks of a real charger; status notifications are not queued, the current state is sent
again instead.

CSMS commands are answered as a real charger would (see v16.py and v201.py): remote start / stop,
resets with a reconnect and BootNotification, availability, trigger message,
configuration / device model, firmware updates (FirmwareStatusNotification steps
``firmware_step_s`` apart, then a reboot), diagnostics / log uploads over HTTP(S) with the
standard library (upload.py), the local authorization list, reservations, and charging
profiles that cap the simulated power (smart.py).

The class is composed of one mixin per concern, each in a module of this package (see
core.py for how they reach each other):

==================  =====================================================================
core.py             the shared state; inspection (online, energy, reading, last answers)
connection.py       connect, close, go offline / come online, reboot
calls.py            one call and its answer; the offline queue of transaction messages
messages.py         BootNotification, Heartbeat, Authorize, StatusNotification
events.py           2.0.1 NotifyEvent (connector problems, temperature)
transactions.py     start, meter values, stop, charge
trouble.py          scripted trouble: fault, overheat, voltage sag
heartbeat.py        the heartbeat loop
background.py       work spawned after a handler answered
handler_support.py  what the CSMS-call handlers ask of the charger
local_list.py       the local authorization list
reservations.py     ReserveNow / CancelReservation and their expiry
smart_charging.py   charging profiles and the limit they set
firmware.py         firmware updates
diagnostics.py      the diagnostics log and its upload
configuration.py    the default 1.6 configuration keys and 2.0.1 variables
==================  =====================================================================
"""

from devtools.simulator.charger.background import BackgroundWorkMixin
from devtools.simulator.charger.calls import CallsMixin
from devtools.simulator.charger.connection import ConnectionMixin
from devtools.simulator.charger.core import ChargerCore
from devtools.simulator.charger.diagnostics import DiagnosticsMixin
from devtools.simulator.charger.events import Events201Mixin
from devtools.simulator.charger.firmware import FirmwareMixin
from devtools.simulator.charger.handler_support import HandlerSupportMixin
from devtools.simulator.charger.heartbeat import HeartbeatMixin
from devtools.simulator.charger.local_list import LocalListMixin
from devtools.simulator.charger.messages import PlainMessagesMixin
from devtools.simulator.charger.reservations import ReservationsMixin
from devtools.simulator.charger.smart_charging import SmartChargingMixin
from devtools.simulator.charger.transactions import TransactionsMixin
from devtools.simulator.charger.trouble import ScriptedTroubleMixin


class SimulatedCharger(
    ConnectionMixin,
    CallsMixin,
    PlainMessagesMixin,
    Events201Mixin,
    TransactionsMixin,
    ScriptedTroubleMixin,
    HeartbeatMixin,
    BackgroundWorkMixin,
    HandlerSupportMixin,
    LocalListMixin,
    ReservationsMixin,
    SmartChargingMixin,
    FirmwareMixin,
    DiagnosticsMixin,
    ChargerCore,
):
    """One charger. Connectors are numbered from 1 (2.0.1: EVSE n with connector 1)."""
