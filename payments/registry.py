"""Which PSP takes an operator's payments: built once from Settings, asked per payment."""

from __future__ import annotations

from app.core.settings import PaymentSettings
from payments.errors import PaymentsNotConfigured
from payments.provider import PaymentProvider


class Providers:
    """The configured PaymentProvider instances, by name."""

    def __init__(self, settings: PaymentSettings, providers: dict[str, PaymentProvider] | None = None) -> None:
        self.settings = settings
        self._providers: dict[str, PaymentProvider] = dict(providers or {})
        if providers is None:
            # The SDKs are imported here only: nothing outside payments/ touches them.
            if settings.stripe is not None:
                from payments.stripe import StripeProvider

                self._providers["stripe"] = StripeProvider(settings.stripe, tolerance_s=settings.webhook_tolerance_s)
            if settings.adyen is not None:
                from payments.adyen import AdyenProvider

                self._providers["adyen"] = AdyenProvider(settings.adyen)

    def get(self, name: str) -> PaymentProvider:
        provider = self._providers.get(name)
        if provider is None:
            raise PaymentsNotConfigured(f"payment provider {name!r} is not configured")
        return provider

    def for_operator(self, operator_key: str) -> PaymentProvider:
        """The PSP of an operator, by its "SE*LAD" key (country code * party id)."""
        name = self.settings.provider_for(operator_key)
        if name is None:
            raise PaymentsNotConfigured()
        return self.get(name)

    @property
    def names(self) -> list[str]:
        return sorted(self._providers)
