"""First contact with a bridge that has never seen the charger: older argon2id password
hashes are replaced by hmac-sha256 at the first login, and a fresh bridge pushes no boot
configuration the charger already has (what it has is in the database, not in a bridge)."""

from __future__ import annotations

import asyncio
import dataclasses
import errno
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import select, update

from app.chargers.commands import CommandRequest
from app.chargers.models import ChargePoint
from app.chargers.service import ChargerService
from app.core.bus import InProcessBus
from app.core.database import create_engine, create_sessionmaker
from app.core.security import PasswordHashing, charger_hash_is_current, verify_charger_password
from app.core.settings import Settings
from devtools.simulator import SimConfig, SimulatedCharger
from ocpp_bridge.protocol import Version
from ocpp_bridge.server import Bridge, create_bridge, run_command
from tests.conftest import TEST_AUTH, System
from tests.e2e.ocpp_helpers import PASSWORD, charge_point, register
from tests.e2e.test_ocpp_handshake import status_of
from tests.support import RawCharger, basic_auth

V16_BOOT = {"chargePointVendor": "Acme", "chargePointModel": "Wallbox 22"}


@asynccontextmanager
async def fresh_bridge(system: System, *, push_boot_config: bool = False) -> AsyncIterator[Bridge]:
    """A bridge of its own over the module's database, as a process just started: no
    credential cache, nothing learnt about any charger."""
    settings = dataclasses.replace(system.settings.ocpp, push_boot_config=push_boot_config)
    bridge = create_bridge(settings, system.maker, system.bus)
    await bridge.start()
    try:
        yield bridge
    finally:
        await bridge.close()


def url_of(bridge: Bridge) -> str:
    return f"ws://127.0.0.1:{bridge.port}/ocpp"


async def store_argon2_hash(system: System, identity: str, password: str) -> str:
    """The charger's password as the bridge stored it before hmac-sha256."""
    legacy = PasswordHashing(TEST_AUTH).charger.hash(password)
    async with system.maker() as db:
        await db.execute(update(ChargePoint).where(ChargePoint.identity == identity).values(password_hash=legacy))
        await db.commit()
    return legacy


async def test_an_argon2_hash_is_upgraded_at_the_first_login_and_the_new_one_lets_the_charger_in(
    system: System,
) -> None:
    identity = await register(system)
    legacy = await store_argon2_hash(system, identity, PASSWORD)

    async with fresh_bridge(system) as first:
        cp = await RawCharger.open(url_of(first), identity, PASSWORD, Version.V16)
        assert (await cp.ok("BootNotification", V16_BOOT))["status"] == "Accepted"
        await cp.close()
    upgraded = (await charge_point(system, identity)).password_hash
    assert upgraded != legacy
    assert charger_hash_is_current(upgraded)
    assert verify_charger_password(upgraded, PASSWORD)

    # Another fresh bridge checks the new hash (no cache to answer for it), and keeps it.
    async with fresh_bridge(system) as second:
        url = f"{url_of(second)}/{identity}"
        assert await status_of(url, additional_headers=basic_auth(identity, "wrong-password-123456")) == 401
        cp = await RawCharger.open(url_of(second), identity, PASSWORD, Version.V16)
        assert (await cp.ok("BootNotification", V16_BOOT))["status"] == "Accepted"
        await cp.close()
    assert (await charge_point(system, identity)).password_hash == upgraded


async def test_a_wrong_password_against_an_argon2_hash_is_401_and_changes_nothing(system: System) -> None:
    identity = await register(system)
    legacy = await store_argon2_hash(system, identity, PASSWORD)
    async with fresh_bridge(system) as bridge:
        url = f"{url_of(bridge)}/{identity}"
        assert await status_of(url, additional_headers=basic_auth(identity, "wrong-password-123456")) == 401
        assert await status_of(url, subprotocols=["ocpp1.6"]) == 401
    assert (await charge_point(system, identity)).password_hash == legacy


async def test_a_weak_older_password_keeps_its_argon2_hash(system: System) -> None:
    # Set before the rule: the fast hash is only for passwords nobody can guess.
    identity, weak = await register(system), "0000000000000000"
    legacy = await store_argon2_hash(system, identity, weak)
    async with fresh_bridge(system) as bridge:
        cp = await RawCharger.open(url_of(bridge), identity, weak, Version.V16)
        assert (await cp.ok("BootNotification", V16_BOOT))["status"] == "Accepted"
        await cp.close()
    assert (await charge_point(system, identity)).password_hash == legacy


async def test_a_password_set_meanwhile_is_not_overwritten_by_the_upgrade(system: System) -> None:
    identity = await register(system)
    await store_argon2_hash(system, identity, PASSWORD)
    async with fresh_bridge(system) as bridge:
        found = await bridge.lookup.get(identity)
        assert found is not None and found.slow
        async with system.maker() as db:
            await ChargerService(db, system.bus).set_password(identity, "a-brand-new-password-1")
        # The login checked the old hash; its upgrade must not bring the old password back.
        assert await bridge.hash_upgrades.after_login(found, PASSWORD)
    stored = (await charge_point(system, identity)).password_hash
    assert verify_charger_password(stored, "a-brand-new-password-1")
    assert not verify_charger_password(stored, PASSWORD)


@pytest.fixture(scope="module")
async def pushing_system(settings: Settings) -> AsyncIterator[System]:
    from tests.conftest import RecordingSubscriber

    engine = create_engine(settings.db)
    maker = create_sessionmaker(engine)
    bus = InProcessBus()
    events = RecordingSubscriber(bus)
    await bus.start()
    ocpp = dataclasses.replace(settings.ocpp, push_boot_config=True, command_timeout_s=10.0)
    bridge = create_bridge(ocpp, maker, bus)
    await bridge.start()
    yield System(dataclasses.replace(settings, ocpp=ocpp), engine, maker, bus, bridge, events)
    await bridge.close()
    await bus.close()
    await engine.dispose()


async def test_a_fresh_bridge_pushes_no_boot_configuration_the_charger_already_applied(
    pushing_system: System,
) -> None:
    system = pushing_system
    identity = await register(system)
    config = SimConfig(url=system.ocpp_url, identity=identity, password=PASSWORD, version="1.6")
    first = SimulatedCharger(config)
    await first.connect()
    await first.boot()
    remembered = await pushed_profile(system, identity)
    assert [a for a, _ in first.received].count("ChangeConfiguration") == 3
    await first.close()

    async with fresh_bridge(system, push_boot_config=True) as bridge:
        again = SimulatedCharger(dataclasses.replace(config, url=url_of(bridge)))
        await again.connect()
        assert (await again.boot())["status"] == "Accepted"
        await again.heartbeat()  # the boot's reply, and anything started after it, handled
        # One CALL at a time per charger: once this is answered, a push would have come first.
        conn = bridge.connection(identity)
        assert conn is not None
        reply = await run_command(conn, CommandRequest(name="clear-cache", args={}, timeout_s=10))
        assert reply.outcome == "answered"
        assert [a for a, _ in again.received] == ["ClearCache"]
        await again.close()
    assert (await charge_point(system, identity)).boot_config_hash == remembered


async def test_a_fresh_bridge_pushes_the_profile_again_when_the_firmware_changed(pushing_system: System) -> None:
    system = pushing_system
    identity = await register(system)
    config = SimConfig(url=system.ocpp_url, identity=identity, password=PASSWORD, version="1.6")
    first = SimulatedCharger(config)
    await first.connect()
    await first.boot()
    remembered = await pushed_profile(system, identity)
    await first.close()

    async with fresh_bridge(system, push_boot_config=True) as bridge:
        updated = dataclasses.replace(config, url=url_of(bridge), firmware_version="9.9.9")
        charger = SimulatedCharger(updated)
        await charger.connect()
        await charger.boot()
        again = await pushed_profile(system, identity, other_than=remembered)
        assert [a for a, _ in charger.received].count("ChangeConfiguration") == 3
        await charger.close()
    assert again != remembered


async def pushed_profile(system: System, identity: str, other_than: str | None = None) -> str:
    """The boot configuration the charger applied in full, once remembered (it is audited
    and remembered in one transaction after the last CALL's answer)."""
    async with asyncio.timeout(10):
        while True:
            async with system.maker() as db:
                stmt = select(ChargePoint.boot_config_hash).where(ChargePoint.identity == identity)
                found = await db.scalar(stmt)
            if found is not None and found != other_than:
                return found
            await asyncio.sleep(0.02)


async def test_a_second_bridge_cannot_take_a_port_a_bridge_listens_on(system: System) -> None:
    # The bridge listens with several SO_REUSEPORT sockets; another process must still be
    # refused the port instead of silently sharing its chargers.
    settings = dataclasses.replace(system.settings.ocpp, port=system.bridge.port)
    intruder = create_bridge(settings, system.maker, system.bus)
    with pytest.raises(OSError) as refused:
        await intruder.start()
    assert refused.value.errno == errno.EADDRINUSE
    cp = await RawCharger.open(system.ocpp_url, await register(system), PASSWORD, Version.V16)
    assert (await cp.ok("Heartbeat", {}))["currentTime"]
    await cp.close()
