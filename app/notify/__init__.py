"""Telling people things: e-mail through an outbox (stored first, sent by a worker, retried),
and operators' webhooks fed from the bus (operator_webhooks.py)."""
