"""One simulated charger's configuration: where it connects, what it is, how it behaves."""

from __future__ import annotations

import ssl
from dataclasses import dataclass

VERSIONS = ("1.6", "2.0.1")


@dataclass
class SimConfig:
    url: str  # base, e.g. "ws://127.0.0.1:9000/ocpp"; the identity is appended
    identity: str
    password: str | None
    version: str = "1.6"  # "1.6" or "2.0.1"
    id_tag: str = "DEMO-TAG-0001"
    power_kw: float = 11.0
    meter_interval_s: float = 5.0
    connectors: int = 1
    meter_start_wh: int = 0  # initial register of every connector
    ssl_context: ssl.SSLContext | None = None
    #: @on handlers sleep this long before answering the CSMS (a slow charger).
    slow_answers_s: float = 0.0
    #: Simulated seconds per real second: energy advances meter_interval_s * time_scale per sample.
    time_scale: float = 1.0
    phases: int = 3
    #: Send Heartbeat every interval the CSMS gave in the BootNotification answer.
    auto_heartbeat: bool = True
    response_timeout_s: float = 30.0
    connect_timeout_s: float = 10.0
    vendor: str = "Laddnät"
    model: str = "Sim-22"
    firmware_version: str = "sim-1.0"
    #: Each stage of a firmware update (download, install) takes this long; tiny in tests.
    firmware_step_s: float = 1.0

    def __post_init__(self) -> None:
        if self.version not in VERSIONS:
            raise ValueError(f"version must be one of {VERSIONS}, not {self.version!r}")
        if self.connectors < 1:
            raise ValueError("a charger needs at least one connector")
        if self.phases not in (1, 3):
            raise ValueError("phases must be 1 or 3")

    @property
    def subprotocol(self) -> str:
        return f"ocpp{self.version}"

    @property
    def endpoint(self) -> str:
        return f"{self.url.rstrip('/')}/{self.identity}"
