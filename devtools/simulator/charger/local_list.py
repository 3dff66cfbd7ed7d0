"""The local authorization list (SendLocalList) and offline authorization from it."""

from __future__ import annotations

from devtools.simulator.charger.core import ChargerCore
from devtools.simulator.model import Payload


class LocalListMixin(ChargerCore):
    """SimulatedCharger's local authorization list (see the module docstring)."""

    def update_local_list(self, version: int, *, full: bool, entries: list[tuple[str, Payload | None]]) -> str:
        """SendLocalList: Accepted, or VersionMismatch for a differential update that is not
        newer than the list held. An entry without info removes the tag."""
        if not full and version <= self.local_list_version:
            return "VersionMismatch"
        if full:
            self.local_list = {}
        for tag, info in entries:
            if info is None:
                self.local_list.pop(tag, None)
            else:
                self.local_list[tag] = info
        self.local_list_version = version
        return "Accepted"

    def _local_status(self, tag: str) -> str:
        """Offline authorization: what the local list says (unknown tags are let through)."""
        info = self.local_list.get(tag)
        return "Accepted" if info is None else str(info.get("status", "Accepted"))
