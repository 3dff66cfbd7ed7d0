"""Errors of the operator API's roaming partners; each code is public API."""

from __future__ import annotations

from app.core.errors import Conflict, DomainError, InvalidInput, NotFound


class PartnerNotFound(NotFound):
    """No such partner, or another operator company's (never 403)."""

    code = "roaming.partner_not_found"
    status = 404
    title = "No such roaming partner"


class PartnerUnusable(DomainError):
    """The partner's OCPI API could not be used: unreachable, not a public address, an error
    answer, or an answer that is not OCPI. ``detail`` says what it answered."""

    code = "roaming.partner_unusable"
    status = 502
    title = "The partner's OCPI API could not be used"


class NoMutualVersion(InvalidInput):
    code = "roaming.no_mutual_version"
    status = 422
    title = "The partner does not offer OCPI 2.2.1"


class MissingEndpoints(InvalidInput):
    code = "roaming.missing_endpoints"
    status = 422
    title = "The partner's version details lack a module we need"


class PartyAlreadyRegistered(Conflict):
    code = "roaming.party_already_registered"
    status = 409
    title = "A partner with this party is already registered"


class PartnerNotRegistered(Conflict):
    code = "roaming.partner_not_registered"
    status = 409
    title = "The partner is not registered"
