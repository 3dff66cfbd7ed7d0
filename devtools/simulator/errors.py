"""What the simulator raises: one base class, and the failures a caller may want to tell apart."""

from __future__ import annotations


class SimulatorError(Exception):
    """Something the simulated charger could not do."""


class ConnectFailed(SimulatorError):
    """The WebSocket could not be opened; ``status_code`` is set when the server answered HTTP."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class NotConnected(SimulatorError):
    """A call that needs the socket while the charger is offline."""


class ConnectionLost(SimulatorError):
    """The socket closed while a call was waiting for its answer."""


class CallFailed(SimulatorError):
    """The CSMS answered a call with CALLERROR (or with something invalid)."""

    def __init__(self, action: str, code: str, description: str = "") -> None:
        super().__init__(f"{action} failed: {code} {description}".strip())
        self.action = action
        self.code = code
        self.description = description


class AuthorizationRejected(SimulatorError):
    """The CSMS did not accept the id tag."""

    def __init__(self, id_tag: str, status: str) -> None:
        super().__init__(f"id tag {id_tag} not accepted: {status}")
        self.id_tag = id_tag
        self.status = status
