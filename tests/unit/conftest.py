"""Fixtures of the unit tests: the fake CSMS the simulator tests share (tests/unit/fake_csms.py)."""

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
