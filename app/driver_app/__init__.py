"""The driver app's API: what the mobile app calls. It composes the areas below it: the
charger finder (price and health of each EVSE), the driver's sessions (a paid start, stop,
history, receipts) and their live feed."""
