"""`laddnat run` with no payment provider configured: the loopback Stripe of
``devtools/fakes/stripe`` (localstripe + our proxy), so the demo network's web checkout and
app sessions take Stripe's test cards (4242 4242 4242 4242) without any account or key.

Only for `laddnat run` (development); `laddnat api` never starts it, and it stays off
whenever LADDNAT_STRIPE_* or LADDNAT_ADYEN_* is set.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

from app.core.settings import StripeSettings

if TYPE_CHECKING:  # aiohttp and localstripe come with the dev extra only
    from devtools.fakes.stripe.browser import BrowserStripeProxy
    from devtools.fakes.stripe.localstripe import LocalStripe

SECRET_KEY = "sk_test_laddnat_demo"
PUBLISHABLE_KEY = "pk_test_laddnat_demo"
WEBHOOK_SECRET = "whsec_laddnat_demo"


def available() -> bool:
    """localstripe and aiohttp come with the dev extra that `make run` installs."""
    return all(importlib.util.find_spec(name) is not None for name in ("localstripe", "aiohttp"))


class DemoStripe:
    def __init__(self) -> None:
        self._localstripe: LocalStripe | None = None
        self._proxy: BrowserStripeProxy | None = None
        self.url = ""

    def start(self, webhook_url: str) -> StripeSettings:
        """Start localstripe and the proxy (blocking: run it in a thread); Stripe-shaped,
        signed webhooks go to ``webhook_url``."""
        from devtools.fakes.stripe.browser import BrowserStripeProxy
        from devtools.fakes.stripe.localstripe import LocalStripe

        localstripe = LocalStripe()
        localstripe.start()
        self._localstripe = localstripe
        proxy = BrowserStripeProxy(localstripe.url)
        proxy.start()
        self._proxy = proxy
        proxy.register_webhook(webhook_url, WEBHOOK_SECRET)
        self.url = proxy.url
        return StripeSettings(
            secret_key=SECRET_KEY,
            webhook_secret=WEBHOOK_SECRET,
            publishable_key=PUBLISHABLE_KEY,
            api_base=proxy.url,
            js_url=f"{proxy.url}/js.stripe.com/v3/",
        )

    def stop(self) -> None:
        if self._proxy is not None:
            self._proxy.stop()
        if self._localstripe is not None:
            self._localstripe.stop()
