"""Every ORM model, imported once so the metadata (and Alembic) sees them all."""

from app.billing.models import FleetAccount, FleetToken, Invoice
from app.billing.receipts.models import ReceiptDocument
from app.chargers.models import (
    ChargePoint,
    ChargerEvent,
    CommandLog,
    Connector,
    ConnectorStatusChange,
    DiagnosticsFile,
    Evse,
    Location,
)
from app.checkout.models import CheckoutLink
from app.console.models import ConsoleSession
from app.core.database import Base
from app.drivers.models import HiddenPaymentMethod, IdToken, LoginAttempt, PaymentCustomer, RefreshToken, User
from app.health.models import HealthBaseline, Incident, IncidentEvent
from app.notify.models import OutgoingMail
from app.operators.models import Operator
from app.operators.webhooks.models import WebhookDelivery, WebhookEndpoint
from app.roaming.commands.models import OcpiCommand
from app.roaming.hubclientinfo.models import OcpiClientInfo
from app.roaming.locations.models import OcpiEvseStatus
from app.roaming.models import OcpiPartner, OcpiPush, OcpiSession, OcpiToken
from app.sessions.models import MeterSample, Transaction, TransactionEventSeen
from app.tariffs.models import Tariff, TariffAssignment
from app.uptime.models import UptimeExclusion
from payments.models import Payment, PaymentTransition, Refund, WebhookEvent

__all__ = [
    "Base",
    "ChargePoint",
    "ChargerEvent",
    "CheckoutLink",
    "CommandLog",
    "Connector",
    "ConnectorStatusChange",
    "ConsoleSession",
    "DiagnosticsFile",
    "Evse",
    "FleetAccount",
    "FleetToken",
    "HealthBaseline",
    "HiddenPaymentMethod",
    "IdToken",
    "Incident",
    "IncidentEvent",
    "Invoice",
    "Location",
    "LoginAttempt",
    "MeterSample",
    "OcpiClientInfo",
    "OcpiCommand",
    "OcpiEvseStatus",
    "OcpiPartner",
    "OcpiPush",
    "OcpiSession",
    "OcpiToken",
    "Operator",
    "OutgoingMail",
    "Payment",
    "PaymentCustomer",
    "PaymentTransition",
    "ReceiptDocument",
    "RefreshToken",
    "Refund",
    "Tariff",
    "TariffAssignment",
    "Transaction",
    "TransactionEventSeen",
    "UptimeExclusion",
    "User",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
]
