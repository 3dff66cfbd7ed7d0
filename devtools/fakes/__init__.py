"""Loopback fakes of the payment providers (Stripe, Adyen) for the demo and the tests."""
