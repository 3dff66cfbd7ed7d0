"""Debian's Chromium for the browser tests (the checkout's and the console's), driven by
Playwright; never ``playwright install``. Their conftests import these fixtures."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

CHROMIUM = os.environ.get("LADDNAT_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)")
    return CHROMIUM


@pytest.fixture(scope="module")
async def browser(chromium_path: str) -> AsyncIterator[Browser]:
    """Headless, one per module."""
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=chromium_path, headless=True, args=["--no-sandbox"])
        yield chromium
        await chromium.close()
