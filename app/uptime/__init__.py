"""Uptime per charging port: the US NEVI figure and a monthly availability report.

A **port** is one connector (EVSE + connector). NEVI (23 CFR 680.116(b)) asks, per port,
over the trailing 12 months and reported monthly::

    µ = ((525,600 − (T_outage − T_excluded)) / 525,600) × 100

**Outage** of a port: every minute it could not charge, i.e. while any of these holds:

- its own last status (``connector_status_history`` for its EVSE and connector) is
  ``Faulted`` or ``Unavailable``;
- the same for its EVSE as a whole (connector 0 of the EVSE), or for the charge point
  (EVSE 0 / connector 0, OCPP 1.6 connector 0), which covers all its ports;
- its charge point is offline: between a ``disconnected`` and the next ``connected`` in
  ``charger_events``. A charger we cannot reach cannot be shown to work.

Overlapping causes count once (a connector Faulted while its charger is offline).
Before the first report of a stream its state is unknown and not counted as outage.

**Excluded**: outage minutes that overlap an operator-marked ``UptimeExclusion`` (a grid
failure, vandalism, ...; port, charge point or location wide), never more than the
outage itself.

**Window and proration.** The window is the 12 calendar months (UTC) ending with the
reported month; its real length stands in for 525,600 (527,040 minutes when it holds a
29 February), so µ = up minutes / window minutes, as in the monthly report. A port that
went into service inside the window is counted from then on (NEVI assumes a full year;
counting the months before it existed as either up or down would misstate it): the
denominator is the minutes it existed in the window. It went into service at its first
status report; failing that, its charge point's first connection; failing that, when the
charge point was registered.

The package, one layer a module: ``intervals`` (the pure arithmetic: outages, µ, months),
``models`` (``UptimeExclusion``), ``schemas``, ``render`` (CSV and SVG), ``service``
(``UptimeService`` loads a location's or operator's rows in a fixed number of queries
whatever the fleet's size) and ``controllers``.
"""
