"""Stripe behind the PaymentProvider protocol."""

from payments.stripe.provider import StripeProvider

__all__ = ["StripeProvider"]
