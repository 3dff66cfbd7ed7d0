"""The NATS bus's outbox under pressure: fan-out events are shed before durable ones."""

from __future__ import annotations

from typing import ClassVar

from app.core.bus import Event
from app.core.bus_nats.acks import AckedPublisher
from app.core.bus_nats.link import Link
from app.core.bus_nats.outbox import Outbox


class Durable(Event, frozen=True):
    subject: ClassVar[str] = "test.durable"
    n: int


class Fanout(Event, frozen=True):
    subject: ClassVar[str] = "test.fanout"
    durable: ClassVar[bool] = False
    n: int


def test_a_full_outbox_sheds_fanout_events_first_and_keeps_durable_ones_to_their_limit() -> None:
    outbox = Outbox(AckedPublisher(Link("nats://127.0.0.1:1", "node")), fanout_limit=2, durable_limit=4)
    outbox.publish(Fanout(n=1))
    outbox.publish(Durable(n=2))
    outbox.publish(Fanout(n=3))  # two held: a fan-out event is shed
    assert outbox.dropped == 1
    outbox.publish(Durable(n=4))
    outbox.publish(Durable(n=5))  # durable ones are kept up to four
    outbox.publish(Durable(n=6))  # the fifth is one too many
    assert outbox.dropped == 2
    assert [(subject, durable) for subject, _, durable, _ in outbox.pending] == [
        ("laddnat.fanout.test.fanout", False),
        ("laddnat.ev.test.durable", True),
        ("laddnat.ev.test.durable", True),
        ("laddnat.ev.test.durable", True),
    ]
