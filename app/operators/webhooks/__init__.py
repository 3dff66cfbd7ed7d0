"""Signed outbound webhooks for operators: endpoints (subscriptions), an outbox of
deliveries fed by the bus (``worker.WebhookDispatcher``), and ``worker.WebhookWorker`` that
sends them with retries. ``signing`` is the reference for receivers."""
