"""The bench's own ``nats-server -js`` (free ports, a store in the run's temporary directory)
and what its monitoring endpoint says about JetStream: events stored, events consumed."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core.bus_nats import REGISTRY_BUCKET, STREAM
from bench.common import free_port, wait_listening

NATS_SERVER = shutil.which("nats-server")


class NatsServer:
    """``nats-server -js`` on a free port with its monitoring port (``-m``) beside it."""

    def __init__(self, store: Path, log_path: Path) -> None:
        self.port = free_port()
        self.monitor_port = free_port()
        self.store = store
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        if NATS_SERVER is None:
            raise RuntimeError("nats-server is not installed")
        argv = [NATS_SERVER, "-js", "-a", "127.0.0.1", "-p", str(self.port), "-m", str(self.monitor_port)]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen([*argv, "-sd", str(self.store)], stdout=log, stderr=log)
        wait_listening("127.0.0.1", self.port, self.proc)
        wait_listening("127.0.0.1", self.monitor_port, self.proc)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def jetstream(self) -> JetStreamReading:
        """The stream's and its consumers' counters now (``/jsz``)."""
        url = f"http://127.0.0.1:{self.monitor_port}/jsz?streams=true&consumers=true"
        with urllib.request.urlopen(url, timeout=10) as r:
            data: dict[str, Any] = json.load(r)
        reading = JetStreamReading(at=time.monotonic())
        for account in data.get("account_details") or []:
            for stream in account.get("stream_detail") or []:
                name, state = stream.get("name"), stream.get("state") or {}
                if name == STREAM:
                    reading.stored = int(state.get("last_seq", 0))
                    reading.bytes = int(state.get("bytes", 0))
                    reading.messages = int(state.get("messages", 0))
                    for consumer in stream.get("consumer_detail") or []:
                        acked = int((consumer.get("ack_floor") or {}).get("consumer_seq", 0))
                        reading.acked[str(consumer.get("name"))] = acked
                        reading.pending += int(consumer.get("num_pending", 0))
                elif name == f"KV_{REGISTRY_BUCKET}":
                    reading.registry_writes = int(state.get("last_seq", 0))
        return reading


@dataclass
class JetStreamReading:
    at: float
    stored: int = 0  # events the stream took (its last sequence number)
    bytes: int = 0  # what the stream holds now, and how many events
    messages: int = 0
    acked: dict[str, int] = field(default_factory=dict)  # per durable consumer: events handled and acked
    pending: int = 0  # events the consumers have not been given yet, all consumers together
    registry_writes: int = 0  # claims and releases of the command registry (KV bucket)


@dataclass
class JetStreamRates:
    """Per second between two readings."""

    published: float = 0.0
    consumed: float = 0.0  # acks summed over every consumer (one event handled by 3 groups counts 3)
    consumers: int = 0
    registry_writes: float = 0.0
    pending_after: int = 0
    bytes_per_event: float = 0.0  # stored size of the stream's events, headers and all

    @classmethod
    def between(cls, a: JetStreamReading, b: JetStreamReading) -> JetStreamRates:
        span = max(b.at - a.at, 1e-9)
        consumed = sum(n - a.acked.get(name, 0) for name, n in b.acked.items())
        return cls(
            published=(b.stored - a.stored) / span,
            consumed=consumed / span,
            consumers=len(b.acked),
            registry_writes=(b.registry_writes - a.registry_writes) / span,
            pending_after=b.pending,
            bytes_per_event=b.bytes / b.messages if b.messages else 0.0,
        )
