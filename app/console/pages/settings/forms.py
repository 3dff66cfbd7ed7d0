"""What the settings pages share: reading a form into the operator API's input struct, and
the API's problems as messages next to the fields they name.

The forms name their inputs as the API names its fields (camelCase), so a problem's
``field`` (``url``, ``roles``, ``pricePerKwhMinor``) finds its input; a page that shows a
field differently (a price in kronor, not öre) maps the name in ``field_of``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import msgspec
from litestar import Request

from app.core.errors import DomainError, InvalidInput

T = TypeVar("T")
_PATH = re.compile(r"at `\$\.([A-Za-z_]+)")
_UNKNOWN = re.compile(r"unknown field `([^`]+)`")


@dataclass
class FormErrors:
    """The problem of a refused change: its message, and per field the one to show beside it."""

    message: str | None = None
    fields: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.message is not None or bool(self.fields)

    def of(self, name: str) -> str | None:
        return self.fields.get(name)


def problem(exc: DomainError, *, rename: Mapping[str, str] | None = None) -> FormErrors:
    """A refused change as the API words it (its ``detail``), beside ``field`` when it names one."""
    name = exc.extra.get("field")
    errors = FormErrors(message=exc.detail)
    if isinstance(name, str) and name:
        base = name.split("[")[0].split(".")[0]
        errors.fields[(rename or {}).get(base, base)] = exc.detail
    return errors


def convert(data: Mapping[str, Any], type_: type[T]) -> T:
    """``data`` as the API's input struct (its own limits apply); a shape error is the
    API's ``request.invalid`` naming the field, as the JSON API answers it."""
    try:
        return msgspec.convert(dict(data), type_, strict=False)
    except msgspec.ValidationError as exc:
        text = str(exc)
        found = _PATH.search(text) or _UNKNOWN.search(text)
        raise InvalidInput(text, field=found.group(1) if found else None) from None


async def form_of(request: Request[Any, Any, Any]) -> Any:
    """The submitted form (Litestar keeps it: the CSRF check read it already)."""
    return await request.form()


def text(form: Any, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def minor_of(value: str, exponent: int, name: str) -> int | None:
    """``"3.49"`` in a currency with ``exponent`` digits -> 349; empty -> None. A decimal
    comma is read as a point (Swedish keyboards)."""
    value = value.replace(",", ".").replace(" ", "").replace("\u00a0", "")
    if not value:
        return None
    try:
        amount = Decimal(value) * (10**exponent)
    except InvalidOperation:
        raise InvalidInput(f"{value!r} is not a number", field=name) from None
    if not amount.is_finite() or amount != amount.to_integral_value():
        raise InvalidInput(f"{value!r}: at most {exponent} decimals", field=name)
    return int(amount)


def major_of(amount_minor: int | None, exponent: int) -> str:
    """The reverse of ``minor_of``, for a form's value."""
    if amount_minor is None:
        return ""
    if not exponent:
        return str(amount_minor)
    whole, part = divmod(amount_minor, 10**exponent)
    return f"{whole}.{part:0{exponent}d}"
