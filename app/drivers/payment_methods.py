"""A driver's saved cards, kept at the PSP: we store only the PSP's customer per user.

The app saves a card in the PSP's own mobile SDK (Stripe SetupIntent / Adyen Drop-in
session); no card data passes through our API. Listing asks the PSP.
"""

from __future__ import annotations

import hashlib
import logging
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.database import insert_ignoring_duplicates
from app.drivers.errors import PaymentMethodNotFound
from app.drivers.models import HiddenPaymentMethod, PaymentCustomer, User
from payments.errors import PaymentsNotConfigured, ProviderUnavailable
from payments.provider import PaymentProvider, ProviderError, SavedMethod, SavedMethodSetup
from payments.registry import Providers
from payments.service import SavedCard

log = logging.getLogger("laddnat.payments")


class PaymentMethodService:
    def __init__(self, db: AsyncSession, providers: Providers | None) -> None:
        self.db = db
        self._providers = providers

    @property
    def providers(self) -> Providers:
        if self._providers is None:
            raise PaymentsNotConfigured()
        return self._providers

    def provider_name(self) -> str:
        """The PSP drivers save cards at: the configured default, else the only (or, with
        both, the first by PaymentSettings' order) configured one."""
        providers = self.providers
        name = providers.settings.default_provider
        if name is None:
            names = providers.names
            if len(names) == 1:
                name = names[0]
            else:
                name = providers.settings.provider_for("") if names else None
        if name is None:
            raise PaymentsNotConfigured()
        return name

    def provider(self, name: str | None = None) -> PaymentProvider:
        return self.providers.get(name or self.provider_name())

    async def setup(self, user: User, request_key: str | None = None) -> tuple[str, SavedMethodSetup]:
        """Start saving a card: the PSP's name and what its SDK needs.

        ``request_key`` (the client's Idempotency-Key) makes a retried request return the
        same SetupIntent / session; without one each call starts a new one. The first
        setup of a user creates the PSP customer under a key fixed per user, so two
        concurrent first setups cannot create two customers.
        """
        name = self.provider_name()
        provider = self.provider(name)
        customer_ref = await self._customer_ref(user.id, name)
        if customer_ref is None:
            key = f"laddnat-user-{user.id}-{name}-first-setup"
        else:
            suffix = hashlib.sha256(request_key.encode()).hexdigest()[:32] if request_key else uuid.uuid4().hex
            key = f"laddnat-user-{user.id}-{name}-setup-{suffix}"
        setup = await self._call_setup(provider, user, customer_ref, key)
        if customer_ref is None:
            await self.db.execute(
                insert_ignoring_duplicates(self.db, PaymentCustomer).values(
                    id=uuid.uuid4(), user_id=user.id, provider=name, customer_ref=setup.customer_ref
                )
            )
            await self.db.commit()
            stored = await self._customer_ref(user.id, name)
            if stored is not None and stored != setup.customer_ref:
                # Another path stored a different customer first: save the card there.
                setup = await self._call_setup(provider, user, stored, f"{key}-{stored}")
        return name, setup

    async def saved(self, user_id: uuid.UUID, *, provider: str | None = None) -> list[SavedMethod]:
        """The user's saved cards as the PSP lists them, without those the user removed."""
        name = provider or self.provider_name()
        customer_ref = await self._customer_ref(user_id, name)
        if customer_ref is None:
            return []
        try:
            methods = await self.provider(name).saved_methods(customer_ref)
        except ProviderError as exc:
            raise ProviderUnavailable(f"{name}: {exc.code}") from exc
        hidden = set(
            await self.db.scalars(
                select(HiddenPaymentMethod.method_ref).where(
                    HiddenPaymentMethod.user_id == user_id, HiddenPaymentMethod.provider == name
                )
            )
        )
        return [m for m in methods if m.ref not in hidden]

    async def remove(self, user_id: uuid.UUID, method_ref: str) -> None:
        """Stop listing and charging a saved card; PaymentMethodNotFound unless it is the
        user's. The card is removed at the PSP too; it is also hidden here first, so a PSP
        that fails to answer never leaves it on the user's list."""
        name = self.provider_name()
        if not any(m.ref == method_ref for m in await self.saved(user_id, provider=name)):
            raise PaymentMethodNotFound()
        await self.db.execute(
            insert_ignoring_duplicates(self.db, HiddenPaymentMethod).values(
                id=uuid.uuid4(), user_id=user_id, provider=name, method_ref=method_ref
            )
        )
        await self.db.commit()
        customer_ref = await self._customer_ref(user_id, name)
        if customer_ref is not None:
            try:
                await self.provider(name).remove_saved_method(customer_ref, method_ref)
            except ProviderError as exc:
                log.warning("saved card %s stays at %s (hidden here): %s", method_ref, name, exc)

    async def saved_card(self, user_id: uuid.UUID, method_ref: str, *, provider: str | None = None) -> SavedCard | None:
        name = provider or self.provider_name()
        customer_ref = await self._customer_ref(user_id, name)
        if customer_ref is None:
            return None
        if not any(m.ref == method_ref for m in await self.saved(user_id, provider=name)):
            return None
        return SavedCard(customer_ref=customer_ref, payment_method_ref=method_ref)

    async def _customer_ref(self, user_id: uuid.UUID, provider: str) -> str | None:
        return await self.db.scalar(
            select(PaymentCustomer.customer_ref).where(
                PaymentCustomer.user_id == user_id, PaymentCustomer.provider == provider
            )
        )

    async def _call_setup(
        self, provider: PaymentProvider, user: User, customer_ref: str | None, key: str
    ) -> SavedMethodSetup:
        try:
            return await provider.setup_saved_method(str(user.id), user.email, customer_ref, idempotency_key=key)
        except ProviderError as exc:
            raise ProviderUnavailable(f"{provider.name}: {exc.code}") from exc
