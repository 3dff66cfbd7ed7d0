"""Domain errors reach a charger as the CALLERROR codes the OCPP specs name."""

from __future__ import annotations

from app.chargers.errors import ChargerOffline, InvalidChargerIdentity
from app.core.errors import DomainError, InvalidInput
from ocpp_bridge.connection import domain_call_error


def test_invalid_input_is_a_property_constraint_violation() -> None:
    error = domain_call_error(InvalidInput("connectorId: must be 0 or more"))
    assert (error.code, error.description, error.details) == (
        "PropertyConstraintViolation",
        "connectorId: must be 0 or more",
        {},
    )


def test_a_subclass_takes_its_nearest_listed_ancestor() -> None:
    assert domain_call_error(InvalidChargerIdentity()).code == "PropertyConstraintViolation"


def test_any_other_domain_error_is_a_generic_error_carrying_our_code() -> None:
    error = domain_call_error(ChargerOffline("CP-1 is not connected"))
    assert (error.code, error.description, error.details) == (
        "GenericError",
        "CP-1 is not connected",
        {"code": "charger.offline"},
    )
    assert domain_call_error(DomainError()).details == {"code": "server.internal_error"}
