"""Tariffs: what charging costs. Other areas import from here.

``pricing`` is the pure maths (``price``, ``price_text``, ``TariffTerms``); the service
stores tariffs, assigns them to EVSEs, locations and operators, and resolves the one in
force for an EVSE. A session keeps ``TariffService.snapshot(terms)`` from its start, so a
later change to the tariff never alters it.
"""

from app.tariffs.pricing import Price, PriceComponent, Reading, TariffBand, TariffTerms, Usage, price, price_text

__all__ = ["Price", "PriceComponent", "Reading", "TariffBand", "TariffTerms", "Usage", "price", "price_text"]
