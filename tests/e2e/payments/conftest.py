"""Stripe on loopback: localstripe (once per run) behind the quirks proxy (once per module).

``stripe_api_base`` is what ``StripeSettings.api_base`` points at: the proxy, so idempotency,
declines, balance transactions and webhooks behave like Stripe (see devtools/fakes/stripe/proxy.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from app.core.settings import StripeSettings
from devtools.fakes.stripe.localstripe import running_localstripe
from devtools.fakes.stripe.proxy import StripeQuirksProxy, running_proxy
from tests.e2e.payments.adyen_fixtures import adyen_fake, adyen_settings  # noqa: F401 (fixtures)
from tests.e2e.payments.paid_stack import smtp, stack  # noqa: F401 (fixtures: the whole paid-session system)

STRIPE_SECRET_KEY = "sk_test_laddnat"
STRIPE_PUBLISHABLE_KEY = "pk_test_laddnat"
STRIPE_WEBHOOK_SECRET = "whsec_laddnat_test"


@pytest.fixture(scope="session")
def localstripe_url() -> Iterator[str]:
    """The base URL of a localstripe process on a free loopback port."""
    with running_localstripe() as server:
        yield server.url


@pytest.fixture(scope="module")
def stripe_proxy(localstripe_url: str) -> Iterator[StripeQuirksProxy]:
    """The quirks proxy in front of localstripe: ``fail_next``, ``register_webhook``,
    ``upstream_count``, ``deliveries``. Its ledger (balance transactions) is this module's own."""
    with running_proxy(localstripe_url) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def stripe_api_base(stripe_proxy: StripeQuirksProxy) -> str:
    """The Stripe API base URL to give the SDK: the proxy's."""
    return stripe_proxy.url


@pytest.fixture(scope="module")
def stripe_settings(stripe_api_base: str) -> StripeSettings:
    return StripeSettings(
        secret_key=STRIPE_SECRET_KEY,
        webhook_secret=STRIPE_WEBHOOK_SECRET,
        publishable_key=STRIPE_PUBLISHABLE_KEY,
        api_base=stripe_api_base,
    )


@pytest.fixture(scope="module")
def register_stripe_webhook(stripe_proxy: StripeQuirksProxy) -> Callable[..., None]:
    """``register_stripe_webhook(url, secret, events=None)``: from now on, Stripe-shaped events for
    what goes through the proxy (authorised, payment_failed, succeeded, canceled, refund.created)
    are POSTed to ``url`` signed with ``secret``. ``stripe_proxy.deliveries`` records each post.

    localstripe can post signed events itself (``register_localstripe_webhook`` in
    devtools/fakes/stripe/webhooks.py) but only ``payment_intent.succeeded``/``payment_failed`` (and
    customer/invoice ones), in its 2017 shape without ``amount_received``, a second late."""
    return stripe_proxy.register_webhook
