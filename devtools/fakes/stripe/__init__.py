"""A Stripe on loopback, for development and tests only: ``localstripe`` (a stateful fake
Stripe from PyPI, in the dev extra) behind a proxy of ours that adds what it lacks
(idempotency keys, card declines, balance transactions, today's response shapes, signed
webhooks, Stripe.js's Payment Element calls for a browser).

The test suite runs the real ``stripe`` SDK against it; ``laddnat run`` starts it when no
payment provider is configured, so the demo checkout takes Stripe's test cards. Nothing
here is imported when real keys are set.

localstripe.py runs localstripe, proxy.py is the proxy (payment_routes.py and shapes.py are
parts of it), browser.py adds Stripe.js and CORS for a browser, webhooks.py signs events.
"""
