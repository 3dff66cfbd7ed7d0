from app.core.errors import Conflict, DomainError, InvalidInput, NotFound


class ChargerNotFound(NotFound):
    code = "charger.not_found"
    title = "No such charger"


class ChargerAlreadyExists(Conflict):
    code = "charger.already_exists"
    title = "A charger with this identity already exists"


class InvalidChargerIdentity(InvalidInput):
    code = "charger.invalid_identity"
    title = "The charger identity is not valid"


class WeakChargerPassword(InvalidInput):
    code = "charger.weak_password"
    title = "Charger passwords are 16 to 40 characters"


class LocationNotFound(NotFound):
    code = "location.not_found"
    title = "No such location"


class ChargerAuthFailed(DomainError):
    code = "charger.auth_failed"
    status = 401
    title = "Charger authentication failed"
