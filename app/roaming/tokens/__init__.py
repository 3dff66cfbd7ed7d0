"""Tokens module (2.2.1 mod_tokens), receiver side: the tokens eMSPs push to us, and how a
token presented at our chargers is authorised with them."""
