"""The command round trip: operator API -> in-process bus -> bridge -> charger -> back.

The bench main process signs in as the bench operator and sends a fixed number of
commands (``POST /api/v1/operator/chargers/{id}/commands/{name}``) to random chargers,
spread evenly over a time window, from a thread pool so a slow answer never delays the
next send. Each request is timed from its send to the end of its HTTP response.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import httpx

OPERATOR_EMAIL = "bench-operator@laddnat.invalid"
OPERATOR_PASSWORD = "bench-operator-password-0001"
COMMAND = "clear-cache"
COMMAND_BODY: dict[str, Any] = {}
HTTP_TIMEOUT_S = 20.0  # the server gives up (504) after LADDNAT_COMMAND_TIMEOUT_S (bench: 10 s) + 5 s at most
MAX_IN_FLIGHT = 32


@dataclass
class CommandResult:
    db: str = ""
    wanted: int = 0
    sent: int = 0
    answered: int = 0  # HTTP 200 with outcome "answered"
    answer_status: Counter[str] = field(default_factory=Counter)  # the charger's status, e.g. Accepted
    failed: Counter[str] = field(default_factory=Counter)  # "409 charger.offline", "ReadTimeout", ...
    latencies: list[float] = field(default_factory=list)  # seconds, answered ones only
    window_s: float = 0.0
    send_lag_max_s: float = 0.0  # how far behind its schedule the latest send went
    error: str = ""  # why nothing was measured


def sign_in(api_url: str, email: str = OPERATOR_EMAIL, password: str = OPERATOR_PASSWORD) -> str:
    """An access token for the bench operator."""
    r = httpx.post(f"{api_url}/api/v1/auth/token", json={"email": email, "password": password}, timeout=30.0)
    r.raise_for_status()
    return str(r.json()["accessToken"])


def _failure(r: httpx.Response) -> str:
    """``409 charger.offline``: the status and the problem's code (or a 200's outcome)."""
    code = None
    try:
        body = r.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        code = body.get("code") or body.get("outcome")
    return f"{r.status_code} {code}" if code else str(r.status_code)


class CommandProbe:
    """Sends ``count`` commands evenly over [start_at, start_at + window_s) on a background thread."""

    def __init__(
        self,
        api_url: str,
        token: str,
        charger_ids: list[uuid.UUID],
        count: int,
        start_at: float,
        window_s: float,
        db: str = "",
    ) -> None:
        self.api_url = api_url
        self.token = token
        self.charger_ids = charger_ids
        self.start_at = start_at
        self.result = CommandResult(db=db, wanted=count, window_s=window_s)
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True, name="bench-commands")

    def start(self) -> None:
        self._thread.start()

    def join(self) -> CommandResult:
        r = self.result
        # Every request is bounded by HTTP_TIMEOUT_S; the last one is sent at the window's end.
        self._thread.join(max(0.0, self.start_at - time.monotonic()) + r.window_s + HTTP_TIMEOUT_S + 10.0)
        if self._thread.is_alive():
            r.error = r.error or "the command sender did not finish in time"
        return r

    def _one(self, client: httpx.Client, charger_id: uuid.UUID, sent: float) -> None:
        """``sent``: when it was handed to the pool, so waiting for a free thread counts too."""
        try:
            resp = client.post(f"/api/v1/operator/chargers/{charger_id}/commands/{COMMAND}", json=COMMAND_BODY)
        except httpx.HTTPError as exc:
            with self._lock:
                self.result.failed[type(exc).__name__] += 1
            return
        took = time.monotonic() - sent
        body: Any = None
        if resp.status_code == 200:
            try:
                body = resp.json()
            except ValueError:
                body = None
        with self._lock:
            if isinstance(body, dict) and body.get("outcome") == "answered":
                self.result.answered += 1
                self.result.latencies.append(took)
                self.result.answer_status[str(body.get("status"))] += 1
            else:
                self.result.failed[_failure(resp)] += 1

    def _run(self) -> None:
        r = self.result
        if not self.charger_ids or r.wanted <= 0:
            r.error = "no chargers to send to"
            return
        period = r.window_s / r.wanted
        headers = {"Authorization": f"Bearer {self.token}"}
        limits = httpx.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=MAX_IN_FLIGHT)
        try:
            with (
                httpx.Client(base_url=self.api_url, headers=headers, timeout=HTTP_TIMEOUT_S, limits=limits) as client,
                ThreadPoolExecutor(MAX_IN_FLIGHT, thread_name_prefix="bench-command") as pool,
            ):
                futures = []
                for i in range(r.wanted):
                    scheduled = self.start_at + i * period
                    delay = scheduled - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    else:
                        r.send_lag_max_s = max(r.send_lag_max_s, -delay)
                    futures.append(pool.submit(self._one, client, random.choice(self.charger_ids), time.monotonic()))
                    r.sent += 1
                wait(futures, timeout=HTTP_TIMEOUT_S + 5.0)
        except Exception as exc:  # report it in the table rather than lose the whole run
            r.error = f"{type(exc).__name__}: {exc}"
