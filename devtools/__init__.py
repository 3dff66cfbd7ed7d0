"""Developer tools outside the product: the charger simulator and the payment providers' fakes.

Used by ``laddnat simulate``, the ``make run`` demo, the benchmark and the tests; nothing in
``app``, ``ocpp_bridge`` or ``payments`` depends on them at import time.
"""
