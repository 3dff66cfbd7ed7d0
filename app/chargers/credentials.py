"""Moving chargers' older argon2id password hashes to the current format as they log in.

A hash is replaced only after the charger proved it knows the password (no password has
to be known to anyone else, and no charger needs a new one), only if that password meets
today's rule (a weak one keeps its slow hash: the fast one is safe only for strong ones),
and only if the row still holds the hash that was checked (a password set meanwhile wins).
Through the group-commit writer: the first storm after an upgrade replaces thousands.
"""

from __future__ import annotations

import logging
from typing import cast

from sqlalchemy import Table, bindparam, update
from sqlalchemy.exc import SQLAlchemyError

from app.chargers.models import ChargePoint
from app.chargers.passwords import meets_the_rule
from app.chargers.service import ChargerCredentials
from app.core.batching import GroupCommit, Write
from app.core.security import hash_charger_password

log = logging.getLogger("laddnat.chargers")

_cp_t = cast(Table, ChargePoint.__table__)
# Module-level: the group-commit writer batches units by statement identity.
_REPLACE_HASH = (
    update(_cp_t)
    .where(_cp_t.c.id == bindparam("cp"), _cp_t.c.password_hash == bindparam("old"))
    .values(password_hash=bindparam("new"))
)


class HashUpgrades:
    def __init__(self, writer: GroupCommit) -> None:
        self.writer = writer

    async def after_login(self, found: ChargerCredentials, password: str) -> bool:
        """Call once ``password`` was verified against ``found``. True if the stored hash
        was (asked to be) replaced; a database error is logged, never raised: the charger
        is in either way, and its next login tries again."""
        if not found.slow or not meets_the_rule(password):
            return False
        params = {"cp": found.ref.id, "old": found.password_hash, "new": hash_charger_password(password)}
        try:
            await self.writer.submit([Write(_REPLACE_HASH, params)])
        except SQLAlchemyError:
            log.warning("could not upgrade the password hash", extra={"identity": found.ref.identity}, exc_info=True)
            return False
        return True
