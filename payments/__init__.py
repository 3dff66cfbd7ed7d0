"""Moving money with a PSP (Stripe, Adyen): the PaymentProvider protocol, the payment state
machine, holds, captures, cancels, refunds and PSP webhooks. Amounts come in as arguments:
of app it imports app.core only (what a session costs is app/billing's)."""
