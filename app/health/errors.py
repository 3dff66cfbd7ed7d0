"""Incident errors (problem+json codes are public API)."""

from __future__ import annotations

from app.core.errors import Conflict, NotFound


class IncidentNotFound(NotFound):
    code = "incident.not_found"
    title = "No such incident"


class IncidentAlreadyResolved(Conflict):
    code = "incident.already_resolved"
    title = "The incident is already resolved"
