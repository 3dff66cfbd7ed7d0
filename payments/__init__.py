"""Provider-neutral payments (Stripe, Adyen). The PaymentProvider protocol lands with the tariffs work."""
