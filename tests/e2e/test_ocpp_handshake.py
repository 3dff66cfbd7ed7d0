"""Security profiles 1/2 at the handshake: who may connect, with which subprotocol."""

from __future__ import annotations

import asyncio
import base64

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from app.chargers.events import ChargerDisconnected, ChargerEventRecorded
from ocpp_bridge.protocol import Version
from tests.conftest import System
from tests.e2e.ocpp_helpers import PASSWORD, charge_point, register
from tests.support import RawCharger, basic_auth


async def status_of(url: str, **kwargs: object) -> int:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, **kwargs):  # type: ignore[arg-type]
            pass
    return refused.value.response.status_code


async def test_unknown_identity_is_404(system: System) -> None:
    assert await status_of(f"{system.ocpp_url}/NOBODY", additional_headers=basic_auth("NOBODY", PASSWORD)) == 404


async def test_missing_or_wrong_password_is_401(system: System) -> None:
    identity = await register(system)
    url = f"{system.ocpp_url}/{identity}"
    assert await status_of(url, subprotocols=["ocpp1.6"]) == 401
    assert await status_of(url, additional_headers=basic_auth(identity, "wrong-password-123456")) == 401
    # Another charger's valid credentials don't open this one.
    other = await register(system)
    assert await status_of(url, additional_headers=basic_auth(other, PASSWORD)) == 401
    garbage = {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()}
    assert await status_of(url, additional_headers=garbage) == 401


async def test_wrong_path_is_404(system: System) -> None:
    base = system.ocpp_url.removesuffix("/ocpp")
    assert await status_of(f"{base}/somewhere/else") == 404


async def test_subprotocol_negotiation(system: System) -> None:
    identity = await register(system)
    url = f"{system.ocpp_url}/{identity}"
    headers = basic_auth(identity, PASSWORD)
    async with connect(url, subprotocols=["ocpp1.6", "ocpp2.0.1"], additional_headers=headers) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "ocpp2.0.1"
    async with connect(url, subprotocols=["ocpp1.6"], additional_headers=headers) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "ocpp1.6"
    # No offer: treated as 1.6 (answers a 1.6-only message).
    async with connect(url, additional_headers=headers) as ws:
        assert ws.subprotocol is None
        raw = RawCharger(ws, Version.V16)
        reply = await raw.ok("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available"})
        assert reply == {}
    assert await status_of(url, subprotocols=["ocpp1.5", "ocpp2.1"], additional_headers=headers) == 400
    assert (await charge_point(system, identity)).ocpp_version == "1.6"


async def test_new_connection_replaces_the_old_one(system: System) -> None:
    identity = await register(system)
    first = await RawCharger.open(system.ocpp_url, identity, PASSWORD, Version.V16)
    second = await RawCharger.open(system.ocpp_url, identity, PASSWORD, Version.V16)
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(first.ws.recv(), 5)
    assert (await second.ok("Heartbeat", {}))["currentTime"]
    assert system.bridge.connection(identity) is not None
    # The replaced socket's close is in the event log, but the charger did not go away.
    await system.events.wait_for(
        lambda e: isinstance(e, ChargerEventRecorded) and e.identity == identity and e.kind == "disconnected"
    )
    assert not [e for e in system.events.events if isinstance(e, ChargerDisconnected) and e.identity == identity]
    await second.close()
    for _ in range(100):
        if system.bridge.connection(identity) is None:
            break
        await asyncio.sleep(0.02)
    assert system.bridge.connection(identity) is None
    # Published once the row is written (group commit), so the row is read after it.
    await system.events.wait_for(lambda e: isinstance(e, ChargerDisconnected) and e.identity == identity)
    assert (await charge_point(system, identity)).connected is False


async def test_changed_password_is_checked_again_despite_the_cache(system: System) -> None:
    from app.chargers.service import ChargerService

    identity = await register(system)
    cp = await RawCharger.open(system.ocpp_url, identity, PASSWORD, Version.V16)  # verified and cached
    await cp.close()
    async with system.maker() as db:
        await ChargerService(db, system.bus).set_password(identity, "a-brand-new-password-1")
    for _ in range(50):  # the bus delivers the change to the bridge asynchronously
        if system.bridge.credentials.get(identity, PASSWORD) is None:
            break
        await asyncio.sleep(0.02)
    url = f"{system.ocpp_url}/{identity}"
    assert await status_of(url, additional_headers=basic_auth(identity, PASSWORD)) == 401
    again = await RawCharger.open(system.ocpp_url, identity, "a-brand-new-password-1", Version.V16)
    await again.close()
