"""edges: the diagnostics upload URLs already in the command audit log, redacted

The token in ``args.uploadUrl`` is the only credential of the unauthenticated upload;
new entries are stored without it (app/chargers/command_service.py), and this takes it out
of the old ones. Data only: no schema change.

Revision ID: 0018_edges
Revises: 0017_tenancy_admin
Create Date: 2026-12-07 13:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_edges"
down_revision: str | None = "0017_tenancy_admin"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPLOAD_PATH = "/uploads/diagnostics/"
_log = sa.table("command_log", sa.column("id", sa.Uuid()), sa.column("name", sa.String()), sa.column("args", sa.JSON()))


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.select(_log.c.id, _log.c.args).where(_log.c.name == "get-diagnostics")).all()
    for row_id, args in rows:
        url = (args or {}).get("uploadUrl")
        if not isinstance(url, str) or url.endswith(UPLOAD_PATH + "***"):
            continue
        head, sep, _token = url.partition(UPLOAD_PATH)
        redacted = f"{head}{sep}***" if sep else "***"
        bind.execute(sa.update(_log).where(_log.c.id == row_id).values(args={**args, "uploadUrl": redacted}))


def downgrade() -> None:
    pass  # the tokens are gone for good (and expired a day after they were issued)
