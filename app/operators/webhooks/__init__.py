"""Signed outbound webhooks for operators: endpoints (subscriptions), an outbox of
deliveries fed by the bus (app/notify/operator_webhooks.py's ``WebhookDispatcher``), and
``worker.WebhookWorker`` that sends them with retries. ``signing`` is the reference for receivers."""
