"""Every bus event class, imported in one place: a NATS bus decodes an event by its subject
(``app.core.bus.EVENT_TYPES``), so a process must know every class before it subscribes to
``"*"``. A new events module is added here."""

from app.billing import events as billing_events
from app.chargers import events as charger_events
from app.health import events as health_events
from app.health import playbooks as playbook_events  # IncidentActionTaken
from app.sessions import events as session_events
from app.tariffs import events as tariff_events
from payments import events as payment_events

MODULES = (
    billing_events,
    charger_events,
    health_events,
    playbook_events,
    session_events,
    tariff_events,
    payment_events,
)
