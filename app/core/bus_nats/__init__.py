"""The bus on NATS JetStream: many processes share one network (``LADDNAT_BUS_URL=nats://...``).

Subjects (docs/operations.md tells the whole story):
- ``laddnat.ev.<subject>``: durable events (``Event.durable``), stored in the JetStream
  stream ``LADDNAT_EVENTS``, published with ``Nats-Msg-Id`` so a retried publish is stored once.
- ``laddnat.fanout.<subject>``: events nothing must act on exactly once; core NATS only.
- ``laddnat-cmd.<node id>``: commands for the chargers this node's bridge holds.

The parts, one module each: ``link`` (the connection and the stream), ``acks`` (JetStream
publishes sent as a window, answered through one inbox), ``outbox`` (events out),
``consumers`` (events in: fan-out, queue groups, durable consumers and their takeover),
``commands`` (the registry of which node holds which charger; request/reply), ``leadership``
(one holder of a role), ``bus`` (``NatsBus``, all of them behind the ``Bus`` protocol).
"""

from app.core.bus_nats.bus import NatsBus
from app.core.bus_nats.consumers import ACK_WAIT_S, FETCH_BATCH, MAX_DELIVER
from app.core.bus_nats.leadership import LEADER_TTL_S, KvLeadership
from app.core.bus_nats.outbox import DURABLE_LIMIT, FANOUT_LIMIT
from app.core.bus_nats.wire import (
    COMMAND_PREFIX,
    DURABLE_PREFIX,
    FANOUT_PREFIX,
    LEADERS_BUCKET,
    REGISTRY_BUCKET,
    STREAM,
    consumer_name,
    default_node_id,
    registry_key,
)

__all__ = [
    "ACK_WAIT_S",
    "COMMAND_PREFIX",
    "DURABLE_LIMIT",
    "DURABLE_PREFIX",
    "FANOUT_LIMIT",
    "FANOUT_PREFIX",
    "FETCH_BATCH",
    "LEADERS_BUCKET",
    "LEADER_TTL_S",
    "MAX_DELIVER",
    "REGISTRY_BUCKET",
    "STREAM",
    "KvLeadership",
    "NatsBus",
    "consumer_name",
    "default_node_id",
    "registry_key",
]
