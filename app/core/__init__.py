"""The few things every area shares: settings, database, bus, errors, auth."""
