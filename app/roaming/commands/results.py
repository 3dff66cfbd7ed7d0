"""A charger's answer to a command, in OCPI's words (CommandResultType).

``outcome`` is the command audit log's (app/chargers/models.CommandLog): ``answered`` with
the charger's ``status``, or ``offline``, ``timeout``, ``call_error`` (with the OCPP error
code), ``unsupported``, ``invalid``. Pure: tested in tests/unit/roaming.
"""

from __future__ import annotations

from app.roaming.commands.schemas import (
    ACCEPTED,
    EVSE_INOPERATIVE,
    EVSE_OCCUPIED,
    FAILED,
    NOT_SUPPORTED,
    REJECTED,
    TIMEOUT,
    UNKNOWN_RESERVATION,
)

# The charger's status (1.6 and 2.0.1 spell them alike) -> CommandResultType, per command.
ANSWERS: dict[str, dict[str, str]] = {
    "START_SESSION": {"Accepted": ACCEPTED, "Rejected": REJECTED},
    "STOP_SESSION": {"Accepted": ACCEPTED, "Rejected": REJECTED},
    "RESERVE_NOW": {
        "Accepted": ACCEPTED,
        "Occupied": EVSE_OCCUPIED,
        "Faulted": EVSE_INOPERATIVE,
        "Unavailable": EVSE_INOPERATIVE,
        "Rejected": REJECTED,
    },
    # 1.6: Rejected = "no reservation with this id"; 2.0.1 says the same.
    "CANCEL_RESERVATION": {"Accepted": ACCEPTED, "Rejected": UNKNOWN_RESERVATION},
    "UNLOCK_CONNECTOR": {
        "Unlocked": ACCEPTED,
        "UnlockFailed": FAILED,
        "NotSupported": NOT_SUPPORTED,
        "OngoingAuthorizedTransaction": REJECTED,  # 2.0.1: stop the session first
        "UnknownConnector": FAILED,
    },
}

# OCPP CALLERROR codes that mean "this charger does not do that".
UNSUPPORTED_CODES = frozenset({"NotImplemented", "NotSupported"})


def command_result(kind: str, outcome: str, status: str | None, error_code: str | None = None) -> str:
    """The CommandResultType for a ``kind`` command that ended with ``outcome``."""
    if outcome == "answered":
        return ANSWERS.get(kind, {}).get(status or "", REJECTED)
    if outcome == "timeout":
        return TIMEOUT
    if outcome == "unsupported" or (outcome == "call_error" and error_code in UNSUPPORTED_CODES):
        return NOT_SUPPORTED
    # offline (the charger went away between our check and the send), a CALLERROR, or a
    # command its OCPP version's schema refused: it was not carried out.
    return FAILED


# An EVSE's status (OCPP, as last reported) that explains a refused start.
OCCUPIED = frozenset({"Occupied", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing", "Reserved"})
INOPERATIVE = frozenset({"Faulted", "Unavailable"})


def refused_start(result: str, evse_status: str | None) -> str:
    """A START_SESSION the charger rejected, said more precisely when its EVSE's status
    tells why: EVSE_OCCUPIED or EVSE_INOPERATIVE rather than a bare REJECTED."""
    if result != REJECTED:
        return result
    if evse_status in OCCUPIED:
        return EVSE_OCCUPIED
    if evse_status in INOPERATIVE:
        return EVSE_INOPERATIVE
    return result


def profile_result(outcome: str, status: str | None) -> str:
    """ChargingProfileResultType (ACCEPTED | REJECTED | UNKNOWN) of a set, clear or get."""
    if outcome != "answered":
        return REJECTED
    return {"Accepted": ACCEPTED, "Unknown": "UNKNOWN"}.get(status or "", REJECTED)
