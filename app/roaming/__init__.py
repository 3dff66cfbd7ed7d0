"""Roaming: the OCPI 2.2.1 CPO interface (each tenant one party) and what we push to partners."""
