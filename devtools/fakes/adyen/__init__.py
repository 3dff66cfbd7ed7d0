"""A stateful fake Adyen on loopback for the tests (see server.py): the Checkout API, the
settlement details report and HMAC-signed notifications."""
