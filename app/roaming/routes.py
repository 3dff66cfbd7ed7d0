"""The /ocpi router: every OCPI module's controllers, their dependencies and the envelope's
error handlers. Not in openapi/openapi.json: OCPI's own specification describes it, and
docs/ocpi.md says what Laddnät implements of it."""

from __future__ import annotations

from litestar import Router
from litestar.di import Provide
from litestar.types import ControllerRouterHandler

from app.roaming.auth import provide_any_partner, provide_partner
from app.roaming.cdrs.controllers import OcpiCdrController
from app.roaming.chargingprofiles.controllers import ChargingProfilesController
from app.roaming.commands.controllers import CommandsController
from app.roaming.envelope import EXCEPTION_HANDLERS
from app.roaming.headers import OcpiHeaders
from app.roaming.hubclientinfo.controllers import HubClientInfoController
from app.roaming.locations.controllers import LocationsController
from app.roaming.registration.controllers import CredentialsController, VersionsController
from app.roaming.sessions.controllers import SessionSenderController
from app.roaming.tariffs.controllers import OcpiTariffController
from app.roaming.tokens.controllers import TokenReceiverController

# Each module adds its controllers here.
OCPI_HANDLERS: list[ControllerRouterHandler] = [
    VersionsController,
    CredentialsController,
    LocationsController,
    SessionSenderController,
    TokenReceiverController,
    CommandsController,
    ChargingProfilesController,
    HubClientInfoController,
    OcpiTariffController,
    OcpiCdrController,
]


def ocpi_router() -> Router:
    return Router(
        "/ocpi",
        route_handlers=OCPI_HANDLERS,
        dependencies={"partner": Provide(provide_partner), "any_partner": Provide(provide_any_partner)},
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[OcpiHeaders],
        include_in_schema=False,
    )
