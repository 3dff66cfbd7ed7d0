"""Alembic migrations; applied by `laddnat migrate` and at `laddnat run` start-up."""
