"""Incident errors (problem+json codes are public API)."""

from __future__ import annotations

from app.core.errors import Conflict, NotFound


class IncidentNotFound(NotFound):
    code = "incident.not_found"
    status = 404
    title = "No such incident"


class IncidentAlreadyResolved(Conflict):
    code = "incident.already_resolved"
    status = 409
    title = "The incident is already resolved"
