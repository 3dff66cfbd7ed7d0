"""Errors of chargers, locations, EVSEs, commands and diagnostics uploads; each code is public API."""

from __future__ import annotations

from app.core.errors import Conflict, DomainError, InvalidInput, NotFound


class ChargerNotFound(NotFound):
    code = "charger.not_found"
    status = 404
    title = "No such charger"


class ChargerAlreadyExists(Conflict):
    code = "charger.already_exists"
    status = 409
    title = "A charger with this identity already exists"


class InvalidChargerIdentity(InvalidInput):
    code = "charger.invalid_identity"
    status = 422
    title = "The charger identity is not valid"


class WeakChargerPassword(InvalidInput):
    code = "charger.weak_password"
    status = 422
    title = "Charger passwords are 16 to 40 characters"


class LocationNotFound(NotFound):
    code = "location.not_found"
    status = 404
    title = "No such location"


class ChargerAuthFailed(DomainError):
    code = "charger.auth_failed"
    status = 401
    title = "Charger authentication failed"


class UnknownCommand(NotFound):
    code = "command.unknown"
    status = 404
    title = "No such command"


class CommandNotSupported(InvalidInput):
    code = "command.unsupported"
    status = 422
    title = "The charger's OCPP version has no such command"


class ChargerOffline(Conflict):
    code = "charger.offline"
    status = 409
    title = "The charger is not connected"


class CommandsUnavailable(DomainError):
    """The bus between the API and the bridges cannot carry commands now (NATS unreachable):
    nothing was sent; the same command may be tried again once it is back."""

    code = "charger.commands_unavailable"
    status = 503
    title = "Commands cannot reach the chargers right now"


class ChargerTimeout(DomainError):
    code = "charger.timeout"
    status = 504
    title = "The charger did not answer in time"


class ChargerCallError(DomainError):
    code = "charger.error"
    status = 502
    title = "The charger answered with an error"


class UploadNotFound(NotFound):
    code = "upload.not_found"
    status = 404
    title = "No such upload, or it has expired"


class UploadAlreadyDone(Conflict):
    code = "upload.already_done"
    status = 409
    title = "This upload URL has been used"


class UploadTooLarge(DomainError):
    code = "upload.too_large"
    status = 413
    title = "The file is too large"


class UploadsBusy(DomainError):
    """More uploads at once than LADDNAT_DIAGNOSTICS_MAX_CONCURRENT_UPLOADS; the answer says
    when to try again (``Retry-After``), and chargers retry uploads on their own."""

    code = "upload.busy"
    status = 503
    title = "Too many uploads at once; try again later"


class EvseNotFound(NotFound):
    code = "evse.not_found"
    status = 404
    title = "No such EVSE"
