"""Telling people things: e-mail through an outbox (stored first, sent by a worker, retried)."""
