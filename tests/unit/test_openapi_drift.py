"""openapi/openapi.json is what the code serves: regenerate it when a route changes."""

from __future__ import annotations

from pathlib import Path

from app.openapi_export import DEFAULT_PATH, render

ROOT = Path(__file__).resolve().parents[2]


def test_exported_openapi_matches_the_code() -> None:
    path = ROOT / DEFAULT_PATH
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    assert current == render(), f"{DEFAULT_PATH} differs from the code: run `python -m app.openapi_export`"
