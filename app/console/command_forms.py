"""The charger page's command forms, drawn from the operator API's own command arguments.

Every command in ``app.chargers.commands.COMMANDS`` gets a form whose inputs are its
argument struct's fields (by their JSON names, so the API's ``request.invalid`` field names
point at the input): text, numbers, a choice for a ``Literal``, yes/no for a flag, a UTC
date and time, and JSON for lists and free data. The form's values become the same JSON
object the API's ``SendCommand`` takes; ``parse_args`` and ``CommandService.send`` judge it.

Commands that interrupt a driver (a reset, a remote stop, unlocking, making a connector
inoperative, a firmware update that reboots) are sent only after a confirmation step.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
import msgspec.inspect as mi

from app.chargers.commands import COMMANDS

CONFIRM_FIELD = "confirmed"
# Filled in by the CSMS (``ChargerCommandService._complete`` / ``CommandService``): no input.
FILLED_BY_SERVICE = frozenset(
    {("get-diagnostics", "uploadUrl"), ("get-diagnostics", "requestId"), ("remote-stop", "chargerTransactionId")}
)
INTERRUPTING = frozenset({"remote-stop", "reset", "unlock-connector", "update-firmware"})


class FormError(Exception):
    """A value the form cannot turn into its JSON type (shown next to its input)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class FormField:
    name: str  # the argument's JSON name: the input's name and id suffix
    kind: str  # text | int | float | bool | choice | datetime | json
    required: bool
    choices: tuple[str, ...] = ()
    default: str = ""  # shown as the input's initial value


@dataclass(frozen=True, slots=True)
class CommandForm:
    name: str
    fields: tuple[FormField, ...]

    @property
    def interrupting(self) -> bool:
        return self.name in INTERRUPTING or self.name == "change-availability"


def _kind(t: mi.Type) -> tuple[str, tuple[str, ...]]:
    if isinstance(t, mi.UnionType):  # X | None
        inner = [x for x in t.types if not isinstance(x, mi.NoneType)]
        return _kind(inner[0]) if len(inner) == 1 else ("json", ())
    if isinstance(t, mi.StrType):
        return "text", ()
    if isinstance(t, mi.IntType):
        return "int", ()
    if isinstance(t, mi.FloatType):
        return "float", ()
    if isinstance(t, mi.BoolType):
        return "bool", ()
    if isinstance(t, mi.LiteralType):
        return "choice", tuple(str(v) for v in t.values)
    if isinstance(t, mi.DateTimeType):
        return "datetime", ()
    return "json", ()


def _default(f: mi.Field) -> str:
    if f.default is mi.NODEFAULT or f.default is None:
        return ""
    if isinstance(f.default, bool):
        return "true" if f.default else "false"
    return str(f.default)


def _form(name: str) -> CommandForm:
    info = mi.type_info(COMMANDS[name])
    assert isinstance(info, mi.StructType)
    fields = []
    for f in info.fields:
        if (name, f.encode_name) in FILLED_BY_SERVICE:
            continue
        kind, choices = _kind(f.type)
        fields.append(FormField(f.encode_name, kind, f.required, choices, _default(f)))
    return CommandForm(name, tuple(fields))


FORMS: dict[str, CommandForm] = {name: _form(name) for name in COMMANDS}


def _datetime(value: str) -> str:
    """``datetime-local`` gives ``2026-12-07T18:00``: the form says UTC, so it is."""
    text = value.strip()
    if len(text) == 16:
        text += ":00"
    if not (text.endswith("Z") or "+" in text[10:] or "-" in text[10:]):
        text += "Z"
    return text


def form_args(form: CommandForm, values: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON object of arguments the submitted ``values`` stand for; an empty input is
    left out (the command's default applies, a missing required one is the API's error)."""
    args: dict[str, Any] = {}
    for field in form.fields:
        raw = values.get(field.name)
        text = raw.strip() if isinstance(raw, str) else ""
        if not text:
            continue
        try:
            if field.kind == "int":
                args[field.name] = int(text)
            elif field.kind == "float":
                args[field.name] = float(text)
            elif field.kind == "bool":
                args[field.name] = text == "true"
            elif field.kind == "datetime":
                args[field.name] = _datetime(text)
            elif field.kind == "json":
                args[field.name] = json.loads(text)
            else:
                args[field.name] = text
        except ValueError as err:
            raise FormError(field.name, str(err)) from None
    return args


def needs_confirmation(form: CommandForm, args: Mapping[str, Any]) -> bool:
    """Does sending this interrupt a driver? Availability only when made inoperative."""
    if form.name == "change-availability":
        return args.get("operative") is False
    return form.name in INTERRUPTING


def missing_field(message: str) -> str | None:
    """The field a msgspec ``missing required field `x``` message names (the API's own
    error names no field then)."""
    marker = "missing required field `"
    if marker not in message:
        return None
    return message.split(marker, 1)[1].split("`", 1)[0] or None


def as_json(data: Any) -> str:
    """Arguments and event data on one line, as written (not \\u-escaped)."""
    return json.dumps(data, ensure_ascii=False, separators=(", ", ": "), default=str)


def pretty(data: Any) -> str:
    """The charger's answer as indented JSON for a ``<pre>``."""
    return msgspec.json.format(msgspec.json.encode(data), indent=2).decode()
