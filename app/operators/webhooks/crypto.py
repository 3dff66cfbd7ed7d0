"""Webhook signing secrets at rest: sealed with AES-256-GCM under a key derived (HKDF) from
LADDNAT_SECRET_KEY.

We must keep the secret itself (we sign with it), so hashing is out. A database dump
without LADDNAT_SECRET_KEY reveals no signing secret; a tampered value is refused.
Changing LADDNAT_SECRET_KEY makes stored secrets unreadable: rotate them then.
"""

from __future__ import annotations

import base64
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = "g1"
_NONCE_BYTES = 12


class SealError(ValueError):
    """A sealed secret is malformed, tampered with, or sealed under another key."""


def _key(secret_key: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"laddnat webhook secrets").derive(
        secret_key.encode()
    )


def seal(secret_key: str, plaintext: str) -> str:
    nonce = secrets.token_bytes(_NONCE_BYTES)
    cipher = AESGCM(_key(secret_key)).encrypt(nonce, plaintext.encode(), VERSION.encode())
    return f"{VERSION}:" + base64.urlsafe_b64encode(nonce + cipher).decode()


def unseal(secret_key: str, sealed: str) -> str:
    version, _, encoded = sealed.partition(":")
    if version != VERSION:
        raise SealError(f"unknown sealing version {version!r}")
    try:
        raw = base64.urlsafe_b64decode(encoded.encode())
    except ValueError as exc:
        raise SealError("not base64") from exc
    if len(raw) <= _NONCE_BYTES:
        raise SealError("too short")
    try:
        plain = AESGCM(_key(secret_key)).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], VERSION.encode())
    except InvalidTag as exc:
        raise SealError("the tag does not match (another LADDNAT_SECRET_KEY, or tampered)") from exc
    return plain.decode()
