"""Reading the bench's markdown table in its smoke tests."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PG_ENV = "LADDNAT_TEST_DATABASE_URL"


def row_of(table: str, name: str) -> list[str]:
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == name:
            return cells
    raise AssertionError(f"no row {name!r} in:\n{table}")


def number(cell: str) -> float:
    match = re.fullmatch(r"[<>]?\s*(-?\d+(?:\.\d+)?)", cell)
    assert match, f"not a number: {cell!r}"
    return float(match.group(1))


def assert_all_accepted(row: list[str], chargers: int) -> None:
    """A storm row whose chargers were all Accepted: a time, not a deadline ("> 60"); a small
    storm on a fast machine may well round to 0.0 s."""
    assert re.fullmatch(r"\d+(?:\.\d+)?", row[1]), row
    assert row[3].startswith(f"{chargers}/{chargers} Accepted") or f"; {chargers}/{chargers} Accepted" in row[3], row
