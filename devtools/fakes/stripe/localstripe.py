"""localstripe (a stateful fake Stripe from PyPI, in the dev extra) as a subprocess on loopback."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from devtools.fakes.net import free_port

# The localstripe command installed beside this interpreter (the project's .venv), else on PATH.
LOCALSTRIPE = Path(sys.executable).with_name("localstripe")


class LocalStripe:
    """``localstripe --port N --from-scratch`` as a subprocess on a free loopback port.

    localstripe pickles its store to /tmp/localstripe.pickle after every write; with
    ``--from-scratch`` it never reads it back, so parallel runs do not see each other's data.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = tempfile.NamedTemporaryFile(prefix="localstripe-", suffix=".log", delete=False)
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 20.0) -> None:
        self._process = subprocess.Popen(
            [
                str(LOCALSTRIPE if LOCALSTRIPE.exists() else shutil.which("localstripe") or "localstripe"),
                "--port",
                str(self.port),
                "--from-scratch",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=tempfile.gettempdir(),
        )
        deadline = time.monotonic() + timeout_s
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"localstripe exited with {self._process.returncode}: {self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/js.stripe.com/v3/", timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"localstripe did not answer on {self.url}: {self.log()}")
            time.sleep(0.05)

    def log(self) -> str:
        return Path(self._log.name).read_text(errors="replace")[-2000:]

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._log.close()
        with contextlib.suppress(OSError):
            os.unlink(self._log.name)


@contextlib.contextmanager
def running_localstripe() -> Iterator[LocalStripe]:
    server = LocalStripe()
    server.start()
    try:
        yield server
    finally:
        server.stop()
