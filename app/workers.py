"""The background work of a process, chosen by kind: the one list of what runs beside the API.

``laddnat run`` runs every kind inside the API process, ``laddnat api`` none unless asked,
``laddnat worker --payments ...`` the chosen kinds without the public API. Every kind is
safe with several copies at once: work is claimed row by row in the database (a
conditional UPDATE that one process wins), and PSPs, mail and webhook receivers are given
the same idempotency key or event id on a retry.

Every object is built whatever runs (the API pokes the mail and webhook workers after it
queues work, and reads the OCPI command worker): a kind not chosen is neither subscribed to
the bus nor started; whoever runs it elsewhere picks the work up on its next poll.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.billing.receipts.mail import ReceiptMailer
from app.billing.worker import PaymentWorker
from app.core.bus import Bus
from app.core.settings import Settings
from app.health.monitor import HealthMonitor
from app.health.playbooks import Remediator
from app.notify.mail import create_mailer
from app.notify.operator_webhooks import WebhookDispatcher
from app.notify.outbox import MailWorker
from app.operators.webhooks.worker import WebhookWorker
from app.roaming.cdrs.service import CdrIssuer
from app.roaming.commands.worker import CommandWorker
from app.roaming.locations.pusher import LocationPusher
from app.roaming.push import PushWorker
from app.roaming.sessions.updates import SessionUpdates
from payments.registry import Providers


class WorkerKind(StrEnum):
    """What ``laddnat worker`` flags choose (``--health``, ``--payments`` ...)."""

    HEALTH = "health"  # fault detection, diagnosis, self-healing playbooks
    PAYMENTS = "payments"  # captures and releases, hold limits, the payment sweeper, receipts
    WEBHOOKS = "webhooks"  # operator webhooks: events into the outbox, deliveries out
    MAIL = "mail"  # the mail outbox
    ROAMING = "roaming"  # OCPI pushes, commands, session updates, CDRs, location pushes


ALL_WORKERS: frozenset[WorkerKind] = frozenset(WorkerKind)
NO_WORKERS: frozenset[WorkerKind] = frozenset()


@dataclass(slots=True)
class Workers:
    """Build with ``Workers.build``; ``start`` and ``close`` run the chosen kinds."""

    kinds: frozenset[WorkerKind]
    payment_worker: PaymentWorker
    receipt_mailer: ReceiptMailer
    mail_worker: MailWorker
    webhook_worker: WebhookWorker
    webhook_dispatcher: WebhookDispatcher
    health_monitor: HealthMonitor
    remediator: Remediator
    ocpi_push_worker: PushWorker
    ocpi_command_worker: CommandWorker
    ocpi_session_updates: SessionUpdates
    ocpi_cdr_issuer: CdrIssuer
    ocpi_location_pusher: LocationPusher

    @classmethod
    def build(
        cls,
        settings: Settings,
        maker: async_sessionmaker[AsyncSession],
        bus: Bus,
        providers: Providers,
        *,
        kinds: Iterable[WorkerKind | str] = ALL_WORKERS,
        health_monitor: HealthMonitor | None = None,
        ocpi_push_worker: PushWorker | None = None,
    ) -> Workers:
        """Every worker over ``maker`` and ``bus``, the chosen ``kinds`` subscribed to the bus.
        A given health monitor or OCPI push worker (tests: on a hand-moved clock) is used
        instead of a new one."""
        chosen = frozenset(WorkerKind(kind) for kind in kinds)
        mail_worker = MailWorker(maker, create_mailer(settings.mail), settings.mail.from_address)
        webhook_worker = WebhookWorker(
            maker, settings.auth.secret_key, allow_private_targets=settings.webhooks.allow_private_targets
        )
        push_worker = ocpi_push_worker if ocpi_push_worker is not None else PushWorker(maker, settings.ocpi)
        workers = cls(
            kinds=chosen,
            payment_worker=PaymentWorker(maker, bus, providers, settings),
            receipt_mailer=ReceiptMailer(maker, bus, providers, mail_worker),
            mail_worker=mail_worker,
            webhook_worker=webhook_worker,
            webhook_dispatcher=WebhookDispatcher(maker, bus, webhook_worker),
            health_monitor=health_monitor if health_monitor is not None else HealthMonitor(maker, bus, settings),
            remediator=Remediator(maker, bus, settings),
            ocpi_push_worker=push_worker,
            ocpi_command_worker=CommandWorker(maker, bus, settings, on_result=push_worker.poke),
            ocpi_session_updates=SessionUpdates(maker, bus, settings.ocpi),
            ocpi_cdr_issuer=CdrIssuer(maker, bus, on_issued=push_worker.poke),
            # Live EVSE status and new locations to every partner of the tenant.
            ocpi_location_pusher=LocationPusher(maker, bus, push_worker),
        )
        workers._subscribe(settings)
        return workers

    def _subscribe(self, settings: Settings) -> None:
        if WorkerKind.PAYMENTS in self.kinds:
            self.payment_worker.subscribe()
            # The receipt is issued at capture; its mail waits in the outbox for the mail worker.
            self.receipt_mailer.subscribe()
        if WorkerKind.WEBHOOKS in self.kinds:
            self.webhook_dispatcher.subscribe()
        if WorkerKind.ROAMING in self.kinds:
            self.ocpi_session_updates.subscribe()
            self.ocpi_cdr_issuer.subscribe()
            self.ocpi_location_pusher.subscribe()
        if WorkerKind.HEALTH in self.kinds:
            self.health_monitor.subscribe()
            health = settings.health
            if health.enabled and (health.self_healing or health.collect_diagnostics):
                self.remediator.subscribe()

    async def start(self) -> None:
        """Start the chosen loops; each returns at once, so a database that is down does
        not stop the process from starting (its /readyz says so)."""
        if WorkerKind.PAYMENTS in self.kinds:
            await self.payment_worker.start()
        if WorkerKind.MAIL in self.kinds:
            await self.mail_worker.start()
        if WorkerKind.HEALTH in self.kinds:
            # Each campaigns for its lead: on NATS one process of all runs it at a time.
            await self.health_monitor.start()
            await self.remediator.start()
        if WorkerKind.WEBHOOKS in self.kinds:
            await self.webhook_worker.start()
        if WorkerKind.ROAMING in self.kinds:
            await self.ocpi_push_worker.start()
            await self.ocpi_command_worker.start()
            await self.ocpi_cdr_issuer.start()
            await self.ocpi_location_pusher.start()

    async def close(self) -> None:
        """Stop everything, the reverse of ``start``; closing what never started is a no-op."""
        await self.ocpi_location_pusher.close()
        await self.ocpi_cdr_issuer.close()
        await self.ocpi_command_worker.close()
        await self.ocpi_push_worker.close()
        await self.webhook_worker.close()
        await self.remediator.close()
        await self.health_monitor.close()
        await self.mail_worker.close()
        await self.payment_worker.close()

    @property
    def names(self) -> list[str]:
        """The chosen kinds, sorted (logs, metrics)."""
        return sorted(self.kinds)
