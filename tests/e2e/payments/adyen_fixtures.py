"""Fixtures for tests against the fake Adyen: one fake per module, real HTTP on loopback.

Use as a plugin (``pytest_plugins = ["tests.e2e.payments.adyen_fixtures"]``) or import the
fixtures into a test module: ``from tests.e2e.payments.adyen_fixtures import adyen_fake, adyen_settings``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.core.settings import AdyenSettings
from devtools.fakes.adyen.server import AdyenFake
from payments.adyen import AdyenProvider


@pytest.fixture(scope="module")
async def adyen_fake() -> AsyncIterator[AdyenFake]:
    """The fake Checkout API + report server, started once for the module."""
    fake = AdyenFake()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture(scope="module")
def adyen_settings(adyen_fake: AdyenFake) -> AdyenSettings:
    """AdyenSettings that point at the module's fake (checkout_url and report_url on loopback)."""
    return adyen_fake.settings()


@pytest.fixture(scope="module")
def adyen_provider(adyen_settings: AdyenSettings) -> AdyenProvider:
    return AdyenProvider(adyen_settings)
