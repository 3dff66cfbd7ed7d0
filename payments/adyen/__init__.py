"""Adyen (Checkout API, standard notifications, settlement details report) behind PaymentProvider."""

from payments.adyen.provider import AdyenProvider

__all__ = ["AdyenProvider"]
