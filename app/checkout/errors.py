"""Errors of the web checkout; each code is public API."""

from __future__ import annotations

from app.core.errors import NotFound


class CheckoutNotFound(NotFound):
    code = "checkout.not_found"
    status = 404
    title = "No such charger or checkout link"
