"""Owner reports: revenue, energy and sessions per location or charger and day or month;
refunds; holds still open. JSON structs and CSV text.

Revenue of a session counts where and when the session stopped: a card-paid session with
its captured amount less what was refunded of it, a session on a fleet account with its
price (``cost_minor``, invoiced monthly). Days and months are UTC calendar days and months.

Each report is one SELECT of the rows in range, aggregated here in Python: grouping by a
day or month in SQL is spelled differently on SQLite and PostgreSQL, and a report's range
holds at most some 100k sessions.
"""
