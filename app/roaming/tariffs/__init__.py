"""Roaming tariffs: our tariffs as OCPI 2.2.1 Tariff objects, and the Tariffs module (sender)."""
