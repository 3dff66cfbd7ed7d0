"""Versions and credentials (OCPI 2.2.1 parts "Version information endpoint" and
"Credentials"): the handshake both ways, updates and unregistration."""
