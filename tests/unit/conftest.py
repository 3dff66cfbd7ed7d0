"""Fixtures of the unit tests: the fake CSMS the simulator tests share (tests/unit/fake_csms.py).

A unit test opens no database: CI runs tests/unit once, not again on PostgreSQL (.ci/run).
The database fixture is refused here, so a test that needs one goes to tests/e2e."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.unit.fake_csms import Csms, start_csms


@pytest.fixture
async def csms16() -> AsyncIterator[Csms]:
    """A fake OCPP 1.6J CSMS on a free port, for this test only."""
    csms = await start_csms("1.6")
    yield csms
    await csms.close()


@pytest.fixture
async def csms201() -> AsyncIterator[Csms]:
    """A fake OCPP 2.0.1 CSMS on a free port, for this test only."""
    csms = await start_csms("2.0.1")
    yield csms
    await csms.close()


@pytest.fixture(scope="module")
def database_url() -> str:
    raise pytest.UsageError("a unit test opens no database (CI runs tests/unit once): put it in tests/e2e")
