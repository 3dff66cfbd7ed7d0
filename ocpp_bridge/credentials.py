"""Recently verified charger credentials, so a reconnect storm costs no KDF and no query."""

from __future__ import annotations

import hashlib
import hmac
import time

from app.chargers.service import ChargerRef


class CredentialCache:
    """Chargers whose password was verified recently, so a reconnect storm costs no KDF
    and no query. Holds a SHA-256 of identity and password, never the password; an entry
    goes when the charger's credentials change (bus event) or after ``ttl_s``."""

    def __init__(self, ttl_s: float = 600.0) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[str, tuple[bytes, ChargerRef, float]] = {}

    @staticmethod
    def _digest(identity: str, password: str) -> bytes:
        return hashlib.sha256(f"{identity}:{password}".encode()).digest()

    def get(self, identity: str, password: str | None) -> ChargerRef | None:
        entry = self._entries.get(identity)
        if entry is None or password is None:
            return None
        digest, charger, expires = entry
        if time.monotonic() > expires or not hmac.compare_digest(digest, self._digest(identity, password)):
            return None
        return charger

    def put(self, charger: ChargerRef, password: str) -> None:
        digest = self._digest(charger.identity, password)
        self._entries[charger.identity] = (digest, charger, time.monotonic() + self.ttl_s)

    def forget(self, identity: str) -> None:
        self._entries.pop(identity, None)

    def refresh(self, charger: ChargerRef) -> None:
        """Keep what was learnt about the charger since its handshake (e.g. its boot config)."""
        entry = self._entries.get(charger.identity)
        if entry is not None and entry[1].id == charger.id:
            self._entries[charger.identity] = (entry[0], charger, entry[2])
