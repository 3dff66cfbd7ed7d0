"""Operators: the companies (tenants) that own locations and chargers, their staff users,
API keys and audit log (app/operators/*.py), and their webhooks (app/operators/webhooks)."""
