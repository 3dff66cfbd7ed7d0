"""The /ocpi router: every OCPI module's controllers, their dependencies and the envelope's
error handlers. Not in openapi/openapi.json: OCPI's own specification describes it, and
docs/ocpi.md says what Laddnät implements of it."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router
from litestar.di import Provide
from litestar.exceptions import HTTPException, NotFoundException
from litestar.types import ControllerRouterHandler

from app.core.http import handle_http_exception
from app.roaming.auth import provide_any_partner, provide_partner
from app.roaming.cdrs.controllers import OcpiCdrController
from app.roaming.chargingprofiles.controllers import ChargingProfilesController
from app.roaming.commands.controllers import CommandsController
from app.roaming.envelope import EXCEPTION_HANDLERS, OcpiError, Status, UnknownObject, error_response
from app.roaming.headers import OcpiHeaders
from app.roaming.hubclientinfo.controllers import HubClientInfoController
from app.roaming.locations.controllers import LocationsController
from app.roaming.paths import ROOT
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
        middleware=[OcpiHeaders()],
        include_in_schema=False,
    )


def unrouted(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    """The app's answer to a path or method no route takes: in the OCPI envelope under /ocpi
    (a partner reads status codes there, never a problem+json), as everywhere else otherwise."""
    if request.url.path == ROOT or request.url.path.startswith(ROOT + "/"):
        if isinstance(exc, NotFoundException):
            return error_response(request, UnknownObject(f"no OCPI endpoint at {request.url.path}"))
        return error_response(request, OcpiError(Status.CLIENT_ERROR, exc.detail, http_status=exc.status_code))
    return handle_http_exception(request, exc)
