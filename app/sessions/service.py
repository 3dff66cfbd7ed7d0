"""Transactions: start, meter, stop, exactly once whatever the charger resends.

Identity is by business key, never by OCPP message id: 1.6 starts by connector +
idTag + meterStart + timestamp, 2.0.1 events by the charger's transactionId + seqNo.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.chargers.models import ChargePoint, ChargerEvent
from app.chargers.service import ChargerRef
from app.core.bus import Bus, Event
from app.core.database import SelectT, claim, insert_ignoring_duplicates, new_id, next_number, scoped, utcnow
from app.drivers.models import IdToken
from app.sessions.errors import TransactionNotFound
from app.sessions.events import (
    MeterSampled,
    TokenChecked,
    TransactionEnded,
    TransactionStarted,
    TransactionUpdated,
)
from app.sessions.foreign_tokens import ForeignTokens
from app.sessions.models import MeterSample, Transaction, TransactionEventSeen
from app.sessions.types import (
    AuthInfo,
    Sample,
    Started,
    StartRequest,
    StopRequest,
    TransactionEventIn,
)
from app.tariffs.service import TariffService
from payments.models import Payment
from payments.state import CREATED, HOLDING

# Token types a charger uses when nobody was asked (free vend, a local key switch).
UNCHECKED_TOKEN_TYPES = frozenset({"NoAuthorization"})


def start_key(req: StartRequest) -> str:
    """The 1.6 business key of a start; a resent StartTransaction has the same one."""
    raw = f"{req.connector}|{req.token}|{req.meter_start_wh:.3f}|{req.at.isoformat()}"
    return hashlib.sha256(raw.encode()).hexdigest()


class TransactionService:
    def __init__(
        self,
        db: AsyncSession,
        bus: Bus,
        *,
        clock: Callable[[], datetime] = utcnow,
        tenant_id: uuid.UUID | None = None,
        foreign_tokens: ForeignTokens | None = None,
    ) -> None:
        """``tenant_id``: the operator company whose chargers' transactions the reads see
        (an operator request's); None is the system's view (the bridge, workers).
        ``foreign_tokens``: who answers for tokens other platforms issued (roaming), wired
        by the entry point; None: a token we do not know is Unknown."""
        self.db = db
        self.bus = bus
        self.clock = clock
        self.tenant_id = tenant_id
        self.foreign_tokens = foreign_tokens
        self._events: list[Event] = []

    # -- tokens --------------------------------------------------------------------

    async def authorize(
        self,
        token: str,
        token_type: str | None = None,
        *,
        for_tx: uuid.UUID | None = None,
        charger: ChargerRef | None = None,
    ) -> AuthInfo:
        """``for_tx``: the transaction this token is being used in, if known (a resent start,
        a stop): a payment's token is still good for its own session. ``charger``: where
        the token is presented (a foreign token's answer depends on it)."""
        if token_type in UNCHECKED_TOKEN_TYPES:
            return AuthInfo(status="Accepted")
        row = await self.db.scalar(select(IdToken).where(IdToken.token == token))
        if row is None:
            auth = await self._authorize_payment_token(token, for_tx)
            if auth.status == "Unknown" and charger is not None and self.foreign_tokens is not None:
                foreign = await self.foreign_tokens.authorize(self.db, charger, token, token_type, for_tx=for_tx)
                return foreign if foreign is not None else auth
            return auth
        if row.status == "Accepted" and row.expires_at is not None and row.expires_at <= self.clock():
            return AuthInfo(status="Expired", expires_at=row.expires_at, group_token=row.group_token)
        return AuthInfo(status=row.status, expires_at=row.expires_at, group_token=row.group_token)

    async def authorize_at(self, charger: ChargerRef, token: str, token_type: str | None = None) -> AuthInfo:
        """A charger's Authorize: the answer, told to the bus too (health watches refusals
        pile up on one charger)."""
        auth = await self.authorize(token, token_type, charger=charger)
        self.bus.publish(
            TokenChecked(
                identity=charger.identity,
                token_ref=hashlib.sha256(token.encode()).hexdigest()[:16],
                token_hint=token[-4:],
                token_type=token_type,
                status=auth.status,
                at=self.clock(),
            )
        )
        return auth

    async def _token_owner(self, token: str) -> uuid.UUID | None:
        """The driver who holds the card now: the session stays theirs whoever holds it later."""
        return await self.db.scalar(select(IdToken.user_id).where(IdToken.token == token))

    async def _authorize_payment_token(self, token: str, for_tx: uuid.UUID | None) -> AuthInfo:
        """The one-session token of a card payment (sent with the remote start): good for
        one session while its hold is on the card; a second session with it is refused."""
        payment = await self.db.scalar(select(Payment).where(Payment.id_token == token))
        if payment is None:
            return AuthInfo(status="Unknown")
        if payment.status == CREATED:
            return AuthInfo(status="Invalid")  # the hold is not in place yet
        if payment.transaction_id is not None and payment.transaction_id != for_tx:
            return AuthInfo(status="ConcurrentTx")
        if payment.status in HOLDING or payment.transaction_id is not None:
            return AuthInfo(status="Accepted")
        return AuthInfo(status="Expired")

    async def _attach_tariff(self, charger: ChargerRef, tx: Transaction) -> None:
        """Give a new session its tariff snapshot: the paid one's from its payment (the
        price the driver saw), otherwise the EVSE's tariff now. Links the payment too."""
        if tx.id_token:
            payment = await self.db.scalar(
                select(Payment).where(Payment.id_token == tx.id_token, Payment.transaction_id.is_(None))
            )
            if payment is not None and payment.status in HOLDING:
                payment.transaction_id = tx.id
                tx.tariff_snapshot = payment.tariff_snapshot
                return
        if tx.tariff_snapshot is None:
            terms = await TariffService(self.db, self.bus).resolve_for(charger.id, tx.evse_number)
            tx.tariff_snapshot = TariffService.snapshot(terms) if terms is not None else None

    # -- OCPP 1.6 ------------------------------------------------------------------

    async def start(self, charger: ChargerRef, req: StartRequest) -> Started:
        """Open a transaction, or return the one this same start already opened."""
        key = start_key(req)
        existing = await self._by_start_key(charger, key)
        auth = await self.authorize(req.token, for_tx=existing.id if existing is not None else None, charger=charger)
        if existing is not None:
            number = existing.number
            await self.db.rollback()
            return Started(number=number, auth=auth)
        number = await next_number(self.db, "transaction")
        tx = Transaction(
            id=new_id(),
            number=number,
            charge_point_id=charger.id,
            charger_transaction_id=str(number),
            start_key=key,
            evse_number=req.connector,
            connector_number=1,
            id_token=req.token,
            id_token_type="ISO14443",
            user_id=await self._token_owner(req.token),
            started_at=req.at,
            meter_start_wh=req.meter_start_wh,
            meter_start_at=req.at,
            meter_last_wh=req.meter_start_wh,
            meter_last_at=req.at,
        )
        self.db.add(tx)
        try:
            await self.db.flush()
            await self._attach_tariff(charger, tx)
            if self.foreign_tokens is not None:
                await self.foreign_tokens.transaction_started(self.db, charger, tx)
        except IntegrityError:
            # The same start on a second socket won the race: answer with its number.
            await self.db.rollback()
            existing = await self._by_start_key(charger, key)
            if existing is None:
                raise
            return Started(number=existing.number, auth=auth)
        self._events.append(self._started_event(charger, tx))
        await self._commit()
        return Started(number=number, auth=auth)

    async def stop(self, charger: ChargerRef, req: StopRequest) -> AuthInfo | None:
        """Close a 1.6 transaction. A repeated stop changes nothing and is accepted again."""
        tx = await self.db.scalar(
            select(Transaction).where(Transaction.charge_point_id == charger.id, Transaction.number == req.number)
        )
        auth = (
            await self.authorize(req.token, for_tx=tx.id if tx is not None else None, charger=charger)
            if req.token
            else None
        )
        if tx is None:
            # Accept anyway, or the charger retries forever; keep it for the operators.
            self.db.add(
                ChargerEvent(
                    charge_point_id=charger.id,
                    kind="unknown_transaction",
                    code="StopTransaction",
                    occurred_at=req.at,
                    data={"transactionId": req.number, "meterStop": req.meter_stop_wh},
                )
            )
            await self._commit()
            return auth
        if tx.status == "completed":
            await self.db.rollback()
            return auth
        await self._add_samples(charger, tx, tx.evse_number, req.samples)
        self._track_meter(tx, req.meter_stop_wh, req.at)
        tx.status = "completed"
        tx.stopped_at = req.at
        tx.stop_reason = req.reason or "Local"
        tx.meter_stop_wh = req.meter_stop_wh
        tx.energy_wh = max(0.0, req.meter_stop_wh - (tx.meter_start_wh or 0.0))
        await self._ended(charger, tx)
        self._events.append(self._ended_event(charger, tx))
        await self._commit()
        return auth

    # -- OCPP 2.0.1 ----------------------------------------------------------------

    async def transaction_event(self, charger: ChargerRef, ev: TransactionEventIn) -> AuthInfo | None:
        """Apply a TransactionEvent once; tolerant of repeats, gaps and any order."""
        tx = await self.db.scalar(
            select(Transaction).where(
                Transaction.charge_point_id == charger.id,
                Transaction.charger_transaction_id == ev.charger_transaction_id,
            )
        )
        auth = (
            await self.authorize(ev.token, ev.token_type, for_tx=tx.id if tx is not None else None, charger=charger)
            if ev.token
            else None
        )
        created = tx is None
        if tx is None:
            tx = Transaction(
                id=new_id(),
                number=await next_number(self.db, "transaction"),
                charge_point_id=charger.id,
                charger_transaction_id=ev.charger_transaction_id,
                evse_number=ev.evse or 0,
                connector_number=ev.connector or 1,
                started_at=ev.at,
                energy_wh=0.0,
            )
            self.db.add(tx)
            await self.db.flush()
        first_time = await claim(
            self.db,
            insert_ignoring_duplicates(self.db, TransactionEventSeen).values(
                transaction_id=tx.id, seq_no=ev.seq_no, event_type=ev.event_type, received_at=self.clock()
            ),
        )
        if not first_time:
            await self.db.rollback()
            return auth
        if ev.evse and not tx.evse_number:
            tx.evse_number = ev.evse
        if ev.connector and ev.event_type == "Started":
            tx.connector_number = ev.connector
        token_before = tx.id_token
        if ev.token and (tx.id_token is None or ev.event_type == "Started"):
            tx.id_token, tx.id_token_type = ev.token, ev.token_type
            tx.user_id = await self._token_owner(ev.token)
        if created or tx.id_token != token_before:
            await self._attach_tariff(charger, tx)
        if tx.id_token is not None and tx.id_token != token_before and self.foreign_tokens is not None:
            await self.db.flush()
            await self.foreign_tokens.transaction_started(self.db, charger, tx)
        if ev.event_type == "Started" or ev.at < tx.started_at:
            tx.started_at = min(tx.started_at, ev.at)
        tx.offline = tx.offline or ev.offline
        if ev.remote_start_id is not None:
            tx.remote_start_id = ev.remote_start_id
        newest = tx.last_seq_no is None or ev.seq_no > tx.last_seq_no
        if newest:
            tx.last_seq_no = ev.seq_no
            if ev.charging_state:
                tx.charging_state = ev.charging_state
        await self._add_samples(charger, tx, tx.evse_number, ev.samples)
        for s in ev.samples:
            if s.is_energy_register:
                self._track_meter(tx, s.value, s.at)
        if created:
            self._events.append(self._started_event(charger, tx))
        if ev.event_type == "Ended" and tx.status != "completed":
            tx.status = "completed"
            tx.stopped_at = ev.at
            tx.stop_reason = ev.stopped_reason or "Local"
            tx.meter_stop_wh = tx.meter_last_wh
            await self._ended(charger, tx)
            self._events.append(self._ended_event(charger, tx))
        elif ev.event_type == "Ended":
            tx.stopped_at = max(tx.stopped_at or ev.at, ev.at)
        elif not created:
            self._events.append(
                TransactionUpdated(
                    identity=charger.identity,
                    transaction_id=tx.id,
                    number=tx.number,
                    energy_wh=tx.energy_wh,
                    charging_state=tx.charging_state,
                    at=ev.at,
                    meter_wh=tx.meter_last_wh,
                )
            )
        if tx.status == "completed":
            tx.meter_stop_wh = tx.meter_last_wh
        await self._commit()
        return auth

    # -- both versions -------------------------------------------------------------

    # -- reads (operator API) --------------------------------------------------------

    async def list(
        self,
        *,
        charge_point_id: uuid.UUID | None = None,
        status: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Sequence[Transaction]:
        stmt = select(Transaction).order_by(Transaction.started_at.desc(), Transaction.number.desc())
        if charge_point_id is not None:
            stmt = stmt.where(Transaction.charge_point_id == charge_point_id)
        if status is not None:
            stmt = stmt.where(Transaction.status == status)
        return (await self.db.scalars(self._scoped(stmt).limit(limit).offset(offset))).all()

    async def count(self, *, charge_point_id: uuid.UUID | None = None, status: str | None = None) -> int:
        stmt = select(func.count()).select_from(Transaction)
        if charge_point_id is not None:
            stmt = stmt.where(Transaction.charge_point_id == charge_point_id)
        if status is not None:
            stmt = stmt.where(Transaction.status == status)
        return int(await self.db.scalar(self._scoped(stmt)) or 0)

    async def get(self, transaction_id: uuid.UUID) -> Transaction:
        """The transaction; TransactionNotFound if none (or on another tenant's charger)."""
        tx = await self.db.scalar(self._scoped(select(Transaction).where(Transaction.id == transaction_id)))
        if tx is None:
            raise TransactionNotFound()
        return tx

    async def list_with_identities(
        self,
        *,
        charge_point_id: uuid.UUID | None = None,
        status: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Sequence[tuple[Transaction, str]]:
        """Like ``list``, each with its charger's identity (one extra query for the page)."""
        txs = await self.list(charge_point_id=charge_point_id, status=status, limit=limit, offset=offset)
        identities = await self._identities({tx.charge_point_id for tx in txs})
        return [(tx, identities[tx.charge_point_id]) for tx in txs]

    async def get_with_identity(self, transaction_id: uuid.UUID) -> tuple[Transaction, str]:
        tx = await self.get(transaction_id)
        return tx, (await self._identities({tx.charge_point_id}))[tx.charge_point_id]

    async def _identities(self, charge_point_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
        if not charge_point_ids:
            return {}
        rows = await self.db.execute(
            select(ChargePoint.id, ChargePoint.identity).where(ChargePoint.id.in_(charge_point_ids))
        )
        return {row.id: row.identity for row in rows}

    async def samples(self, transaction_id: uuid.UUID, *, limit: int = 10_000) -> Sequence[MeterSample]:
        stmt = (
            select(MeterSample)
            .where(MeterSample.transaction_id == transaction_id)
            .order_by(MeterSample.sampled_at, MeterSample.measurand, MeterSample.phase)
            .limit(limit)
        )
        return (await self.db.scalars(stmt)).all()

    # -- helpers -------------------------------------------------------------------

    def _scoped(self, stmt: SelectT) -> SelectT:
        """``stmt`` over Transaction narrowed to the tenant's chargers (a transaction has
        no owner column of its own: its charger's is the one)."""
        if self.tenant_id is None:
            return stmt
        return scoped(
            stmt.join(ChargePoint, ChargePoint.id == Transaction.charge_point_id),
            ChargePoint.operator_id,
            self.tenant_id,
        )

    async def _by_start_key(self, charger: ChargerRef, key: str) -> Transaction | None:
        return await self.db.scalar(
            select(Transaction).where(Transaction.charge_point_id == charger.id, Transaction.start_key == key)
        )

    def _track_meter(self, tx: Transaction, value_wh: float, at: datetime) -> None:
        """Keep the earliest and the latest energy register reading, whatever the order."""
        if tx.meter_start_at is None or at < tx.meter_start_at:
            tx.meter_start_wh, tx.meter_start_at = value_wh, at
        if tx.meter_last_at is None or at >= tx.meter_last_at:
            tx.meter_last_wh, tx.meter_last_at = value_wh, at
        if tx.meter_start_wh is not None and tx.meter_last_wh is not None:
            tx.energy_wh = max(0.0, tx.meter_last_wh - tx.meter_start_wh)

    async def _add_samples(
        self, charger: ChargerRef, tx: Transaction | None, evse: int, samples: Sequence[Sample]
    ) -> None:
        if not samples:
            return
        now = self.clock()
        tx_id = tx.id if tx is not None else None
        rows = [{**s.row(charger.id, evse, now), "transaction_id": tx_id} for s in samples]
        await self.db.execute(insert_ignoring_duplicates(self.db, MeterSample), rows)
        self._events.append(
            MeterSampled(
                identity=charger.identity,
                evse=evse,
                transaction_id=tx.id if tx is not None else None,
                transaction_number=tx.number if tx is not None else None,
                samples=list(samples),
            )
        )

    async def _ended(self, charger: ChargerRef, tx: Transaction) -> None:
        if self.foreign_tokens is not None:
            await self.db.flush()
            await self.foreign_tokens.transaction_ended(self.db, charger, tx)

    def _started_event(self, charger: ChargerRef, tx: Transaction) -> TransactionStarted:
        return TransactionStarted(
            identity=charger.identity,
            transaction_id=tx.id,
            number=tx.number,
            evse=tx.evse_number,
            connector=tx.connector_number,
            id_token=tx.id_token,
            started_at=tx.started_at,
            offline=tx.offline,
        )

    def _ended_event(self, charger: ChargerRef, tx: Transaction) -> TransactionEnded:
        assert tx.stopped_at is not None
        return TransactionEnded(
            identity=charger.identity,
            transaction_id=tx.id,
            number=tx.number,
            evse=tx.evse_number,
            connector=tx.connector_number,
            id_token=tx.id_token,
            started_at=tx.started_at,
            stopped_at=tx.stopped_at,
            energy_wh=tx.energy_wh,
            stop_reason=tx.stop_reason,
            meter_stop_wh=tx.meter_stop_wh,
        )

    async def _commit(self) -> None:
        await self.db.commit()
        events, self._events = self._events, []
        for event in events:
            self.bus.publish(event)
