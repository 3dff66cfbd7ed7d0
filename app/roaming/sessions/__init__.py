"""Sessions module (2.2.1 mod_sessions), sender side: the roaming sessions on our chargers,
pushed to the eMSP whose token they run under and listed for it."""
