"""One database transaction per message: a storage failure answers InternalError and
leaves nothing half-written; the charger's retry then succeeds."""

from __future__ import annotations

from sqlalchemy import text

from ocpp_bridge.protocol import Version
from tests.conftest import System
from tests.e2e.ocpp_helpers import PASSWORD, register, samples, transactions
from tests.support import RawCharger


async def test_failed_stop_leaves_transaction_untouched_then_retry_succeeds(system: System) -> None:
    identity = await register(system)
    cp = await RawCharger.open(system.ocpp_url, identity, PASSWORD, Version.V16)
    number = (
        await cp.ok(
            "StartTransaction", {"connectorId": 1, "idTag": "A", "meterStart": 0, "timestamp": "2026-06-01T10:00:00Z"}
        )
    )["transactionId"]
    stop = {
        "transactionId": number,
        "meterStop": 7000,
        "timestamp": "2026-06-01T11:00:00Z",
        "transactionData": [{"timestamp": "2026-06-01T11:00:00Z", "sampledValue": [{"value": "7000"}]}],
    }
    # Break storage of meter samples: the stop updates the transaction first, then fails.
    async with system.engine.begin() as conn:
        await conn.execute(text("ALTER TABLE meter_samples RENAME TO meter_samples_away"))
    try:
        code, _ = await cp.error("StopTransaction", stop)
    finally:
        async with system.engine.begin() as conn:
            await conn.execute(text("ALTER TABLE meter_samples_away RENAME TO meter_samples"))
    assert code == "InternalError"
    [tx] = await transactions(system, identity)
    assert (tx.status, tx.stopped_at, tx.meter_stop_wh) == ("active", None, None)

    await system.engine.dispose()  # drop pooled connections that cached the old schema
    await cp.ok("StopTransaction", stop)
    await cp.close()
    [tx] = await transactions(system, identity)
    assert (tx.status, tx.energy_wh) == ("completed", 7000)
    assert len(await samples(system, tx.id)) == 1
