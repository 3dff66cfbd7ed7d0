"""The charger page's command forms (drawn from the API's argument structs), its texts and
how readings become chart points."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import app.console.routes  # noqa: F401  (every page module, and so every page's texts, loaded)
from app.chargers.command_service import parse_args
from app.chargers.commands import COMMANDS
from app.console.charger_view import POWER, TEMPERATURE, VOLTAGE, bucketed
from app.console.command_forms import FORMS, FormError, form_args, missing_field, needs_confirmation
from app.console.i18n import EN, SV


def test_every_command_has_a_form_and_every_form_its_texts() -> None:
    assert set(FORMS) == set(COMMANDS)
    for form in FORMS.values():
        keys = [f"charger.cmd.{form.name}"] + [f"charger.field.{f.name}" for f in form.fields]
        keys += [f"charger.kind.{f.kind}" for f in form.fields]
        for key in keys:
            assert key in EN and key in SV, key


def test_form_values_become_the_apis_arguments() -> None:
    form = FORMS["set-charging-profile"]
    args = form_args(
        form,
        {
            "limit": "7400",
            "unit": "W",
            "evse": "",
            "periods": '[{"startS": 0, "limit": 11000}]',
            "startAt": "2026-12-07T18:00",
        },
    )
    assert args == {
        "limit": 7400.0,
        "unit": "W",
        "periods": [{"startS": 0, "limit": 11000}],
        "startAt": "2026-12-07T18:00:00Z",
    }
    parse_args("set-charging-profile", args)  # the API takes it as it is
    assert form_args(FORMS["change-availability"], {"operative": "false"}) == {"operative": False}
    with pytest.raises(FormError) as bad:
        form_args(FORMS["unlock-connector"], {"evse": "one"})
    assert bad.value.field == "evse"


def test_what_interrupts_a_driver_is_confirmed_first() -> None:
    assert needs_confirmation(FORMS["reset"], {})
    assert needs_confirmation(FORMS["unlock-connector"], {"evse": 1})
    assert needs_confirmation(FORMS["change-availability"], {"operative": False})
    assert not needs_confirmation(FORMS["change-availability"], {"operative": True})
    assert not needs_confirmation(FORMS["trigger-message"], {"message": "Heartbeat"})
    # The service fills these in: no input for them.
    assert [f.name for f in FORMS["get-diagnostics"].fields] == ["oldest", "latest", "retries"]
    assert [f.name for f in FORMS["remote-stop"].fields] == ["transactionId"]


def test_a_missing_field_is_named() -> None:
    assert missing_field("Object missing required field `evse`") == "evse"
    assert missing_field("Expected `int`, got `str` - at `$.evse`") is None


def test_readings_are_reduced_per_instant_and_averaged_per_bucket() -> None:
    since = datetime(2026, 12, 7, 12, tzinfo=UTC)
    at = since + timedelta(seconds=10)
    later = since + timedelta(seconds=20)
    rows = [
        (at, 1, POWER, "", 7000.0),
        (at, 2, POWER, "", 3000.0),  # two EVSEs: summed
        (at, 1, VOLTAGE, "L1-N", 229.0),
        (at, 1, VOLTAGE, "L2-N", 231.0),  # phases: the mean
        (at, 1, TEMPERATURE, "", 30.0),
        (at, 2, TEMPERATURE, "", 40.0),  # the hottest EVSE
        (later, 1, POWER, "L1", 1000.0),
        (later, 1, POWER, "L2", 1000.0),  # no total: the phases' sum
    ]
    [reading] = bucketed(rows, since, 30.0)
    assert reading.power_kw == pytest.approx(6.0)  # (10 kW + 2 kW) / 2
    assert reading.voltage_v == pytest.approx(230.0)
    assert reading.temperature_c == pytest.approx(40.0)
    assert reading.at == since + timedelta(seconds=15)
    assert bucketed([], since, 30.0) == []
