"""The event loop the long-running roles (run, api, worker, bridge) run on.

uvloop (libuv under asyncio's API) where it is installed: a bridge spends most of its CPU in
the event loop and the transports rather than in our code (accepting a socket, scheduling
its callbacks, writing frames), and uvloop does that part in C. ``LADDNAT_EVENT_LOOP=asyncio``
keeps the standard loop (to rule the loop out when chasing a problem).
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from app.core.tasks import then_stop_the_rest

T = TypeVar("T")

UVLOOP = "uvloop"
ASYNCIO = "asyncio"
EVENT_LOOPS = (UVLOOP, ASYNCIO)


def uvloop_installed() -> bool:
    return importlib.util.find_spec("uvloop") is not None


def default_event_loop() -> str:
    return UVLOOP if uvloop_installed() else ASYNCIO


def running_event_loop() -> str:
    """The name of the loop the caller runs on (``UVLOOP`` or ``ASYNCIO``)."""
    return UVLOOP if type(asyncio.get_running_loop()).__module__.startswith("uvloop") else ASYNCIO


def _factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    if name == UVLOOP:
        import uvloop

        return uvloop.new_event_loop
    return None  # asyncio's own


def run_role(main: Coroutine[Any, Any, T], event_loop: str) -> T:
    """``asyncio.run(main)`` on the chosen loop, then every task left stopped for sure."""
    with asyncio.Runner(loop_factory=_factory(event_loop)) as runner:
        return runner.run(then_stop_the_rest(main))
