"""The console's catalogues, language choice, redirect targets and settings."""

from __future__ import annotations

import pytest

import app.console.routes  # noqa: F401  (every page module, and so every page's texts, loaded)
from app.console.i18n import EN, SV, Translator, negotiate
from app.console.pages.signin import safe_next
from app.core.settings import Settings, SettingsError


def test_english_and_swedish_hold_the_same_keys() -> None:
    assert sorted(EN.keys() - SV.keys()) == []
    assert sorted(SV.keys() - EN.keys()) == []


@pytest.mark.parametrize(
    "cookie,accept,lang",
    [
        ("sv", "en-GB,en;q=0.9", "sv"),
        (None, "sv-SE,sv;q=0.9,en;q=0.8", "sv"),
        (None, "de-DE,en;q=0.5,sv;q=0.7", "sv"),
        ("de", "fr", "en"),
        (None, "sv;q=0", "en"),
        (None, None, "en"),
    ],
)
def test_the_language_is_the_cookie_else_accept_language_else_english(
    cookie: str | None, accept: str | None, lang: str
) -> None:
    assert negotiate(cookie, accept) == lang


def test_swedish_numbers_and_money() -> None:
    assert Translator("sv").number(12345.5, 1) == "12\u00a0345,5"
    assert Translator("en").number(12345.5, 1) == "12,345.5"
    assert Translator("sv")("nav.money") == "Pengar"
    assert Translator("sv")("no.such.key") == "no.such.key"


@pytest.mark.parametrize(
    "target,where",
    [
        ("/console/chargers?q=x", "/console/chargers?q=x"),
        ("/console", "/console"),
        ("//evil.example/console", "/console"),
        ("https://evil.example/console", "/console"),
        ("/console.evil.example", "/console"),
        ("/console/\\evil", "/console"),
        (None, "/console"),
    ],
)
def test_only_console_paths_are_followed_after_sign_in(target: str | None, where: str) -> None:
    assert safe_next(target) == where


def test_console_settings_from_the_environment() -> None:
    base = {"LADDNAT_SECRET_KEY": "x" * 40}
    console = Settings.from_env(base).console
    assert (console.idle_timeout_s, console.absolute_timeout_s, console.secure_cookies) == (1800, 43200, False)
    assert console.tile_url.startswith("https://tile.openstreetmap.org/")
    off = Settings.from_env({**base, "LADDNAT_CONSOLE_TILE_URL": "", "LADDNAT_CONSOLE_IDLE_TIMEOUT_S": "60"}).console
    assert (off.tile_url, off.idle_timeout_s) == ("", 60)
    with pytest.raises(SettingsError, match="LADDNAT_CONSOLE_TILE_URL"):
        Settings.from_env({**base, "LADDNAT_CONSOLE_TILE_URL": "ftp://tiles"})
