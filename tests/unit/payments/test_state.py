"""The payment state machine and the payment settings: pure rules."""

from __future__ import annotations

import pytest

from app.core.settings import Settings, SettingsError
from payments import state
from payments.provider import idempotency_key

BASE = {"LADDNAT_SECRET_KEY": "x" * 32}
STRIPE = {"LADDNAT_STRIPE_SECRET_KEY": "sk_test_1", "LADDNAT_STRIPE_WEBHOOK_SECRET": "whsec_1"}
ADYEN = {
    "LADDNAT_ADYEN_API_KEY": "AQE_test",
    "LADDNAT_ADYEN_MERCHANT_ACCOUNT": "LaddnatECOM",
    "LADDNAT_ADYEN_HMAC_KEY": "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056",
}


@pytest.mark.parametrize(
    ("current", "to"),
    [
        ("created", "authorised"),
        ("authorised", "capturing"),
        ("capturing", "captured"),
        ("authorised", "cancelling"),
        ("cancelling", "cancelled"),
        ("captured", "partially_refunded"),
        ("partially_refunded", "refunded"),
        ("created", "captured"),  # a capture notified before the authorisation
    ],
)
def test_forward_moves_are_allowed(current: str, to: str) -> None:
    assert state.can_move(current, to)


@pytest.mark.parametrize(
    ("current", "to"),
    [
        ("captured", "authorised"),
        ("captured", "cancelled"),
        ("cancelled", "captured"),
        ("refunded", "partially_refunded"),
        ("failed", "authorised"),
        ("created", "refunded"),
    ],
)
def test_backward_and_impossible_moves_are_refused(current: str, to: str) -> None:
    assert not state.can_move(current, to)


def test_refund_status_depends_on_what_is_left() -> None:
    assert state.after_refund(1000, 400) == "partially_refunded"
    assert state.after_refund(1000, 1000) == "refunded"


def test_idempotency_key_is_the_same_for_a_retry_and_differs_per_action() -> None:
    import uuid

    pid = uuid.uuid4()
    assert idempotency_key(pid, "capture") == idempotency_key(pid, "capture")
    assert idempotency_key(pid, "capture") != idempotency_key(pid, "cancel")
    assert idempotency_key(pid, "refund", 1) != idempotency_key(pid, "refund", 2)


def test_no_provider_configured_means_no_card_payments() -> None:
    payments = Settings.from_env(BASE).payments
    assert payments.stripe is None and payments.adyen is None
    assert payments.provider_for("SE*LAD") is None


def test_providers_are_chosen_per_operator_with_a_default() -> None:
    env = {**BASE, **STRIPE, **ADYEN, "LADDNAT_PAYMENT_PROVIDERS": "se*ady=adyen"}
    payments = Settings.from_env(env).payments
    assert payments.provider_for("SE*ADY") == "adyen"
    assert payments.provider_for("SE*LAD") == "stripe"
    env["LADDNAT_PAYMENT_PROVIDER"] = "adyen"
    assert Settings.from_env(env).payments.provider_for("SE*LAD") == "adyen"


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"LADDNAT_STRIPE_SECRET_KEY": "sk_test_1"}, "LADDNAT_STRIPE_WEBHOOK_SECRET"),
        ({**ADYEN, "LADDNAT_ADYEN_HMAC_KEY": "not-hex"}, "LADDNAT_ADYEN_HMAC_KEY"),
        ({**ADYEN, "LADDNAT_ADYEN_ENVIRONMENT": "live"}, "LADDNAT_ADYEN_LIVE_URL_PREFIX"),
        ({**STRIPE, "LADDNAT_PAYMENT_PROVIDER": "adyen"}, "LADDNAT_PAYMENT_PROVIDER"),
        ({**STRIPE, "LADDNAT_PAYMENT_PROVIDERS": "LAD=stripe"}, "LADDNAT_PAYMENT_PROVIDERS"),
        ({**STRIPE, "LADDNAT_PAYMENT_PROVIDERS": "SE*LAD=paypal"}, "LADDNAT_PAYMENT_PROVIDERS"),
    ],
)
def test_bad_payment_settings_stop_start_up_naming_the_variable(env: dict[str, str], names: str) -> None:
    with pytest.raises(SettingsError, match=names.replace("*", r"\*")):
        Settings.from_env({**BASE, **env})
