"""Errors of tenants, their staff and API keys; each code is public API."""

from __future__ import annotations

from app.core.errors import Conflict, InvalidInput, NotFound


class TenantNotFound(NotFound):
    code = "tenant.not_found"
    status = 404
    title = "No such operator company"


class TenantInvalid(InvalidInput):
    """``field`` names the culprit (``name``, ``countryCode``, ``partyId``)."""

    code = "tenant.invalid"
    status = 422
    title = "The operator company is not valid"


class PartyTaken(Conflict):
    """Country code + party id name one OCPI party: one operator company each."""

    code = "tenant.party_taken"
    status = 409
    title = "An operator company with this country code and party id exists"


class StaffNotFound(NotFound):
    """No such user, or not one of the caller's company (never 403)."""

    code = "staff.not_found"
    status = 404
    title = "No such staff user"


class LastAdmin(Conflict):
    code = "staff.last_admin"
    status = 409
    title = "The company's last active admin cannot be demoted or deactivated"


class ApiKeyNotFound(NotFound):
    """No such key, or another company's (never 403)."""

    code = "api_key.not_found"
    status = 404
    title = "No such API key"


class ApiKeyInvalid(InvalidInput):
    """``field`` names the culprit (``name``)."""

    code = "api_key.invalid"
    status = 422
    title = "The API key is not valid"


class ApiKeyRolesInvalid(InvalidInput):
    """A role that is not a tenant role, or one the creator does not hold itself."""

    code = "api_key.invalid_roles"
    status = 422
    title = "The API key's roles are not valid"
