"""Stripe's form-encoded parameters (as ``(key, value)`` pairs) and its error body."""

from __future__ import annotations

import re
from typing import Any


def first(pairs: list[tuple[str, str]], key: str) -> str | None:
    return next((v for k, v in pairs if k == key), None)


def expanded(pairs: list[tuple[str, str]]) -> list[str]:
    return [v for k, v in pairs if re.fullmatch(r"expand\[\d*\]", k)]


def without(pairs: list[tuple[str, str]], names: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in pairs if k.split("[", 1)[0] not in names]


def nested(pairs: list[tuple[str, str]], names: tuple[str, ...]) -> dict[str, Any]:
    """``automatic_payment_methods[enabled]=true`` -> ``{"automatic_payment_methods": {"enabled": True}}``."""
    out: dict[str, Any] = {}
    for k, v in pairs:
        parts = re.findall(r"[^\[\]]+", k)
        if not parts or parts[0] not in names:
            continue
        value: Any = {"true": True, "false": False}.get(v, v)
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return out


def stripe_error(status: int, type_: str, message: str, **extra: Any) -> tuple[int, dict[str, Any]]:
    return status, {"error": {"type": type_, "message": message, **extra}}
