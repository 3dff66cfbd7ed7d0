"""``/console/settings``: tariffs, webhooks, users, API keys and roaming partners of the
tenant, each on the operator API's services and guards (one module per sub-page)."""

from __future__ import annotations

from litestar import Controller, get
from litestar.response import Redirect
from litestar.types import ControllerRouterHandler

from app.console.pages.settings import texts  # noqa: F401 (the pages' texts, added on import)
from app.console.pages.settings.partners import PartnerPagesController
from app.console.pages.settings.tariffs import TariffPagesController
from app.console.pages.settings.team import ApiKeyPagesController, StaffPagesController
from app.console.pages.settings.webhooks import WebhookPagesController


class SettingsController(Controller):
    path = "/console/settings"

    @get("/", name="console:settings", status_code=303)
    async def index(self) -> Redirect:
        """The first sub-page every role may read."""
        return Redirect("/console/settings/tariffs", status_code=303)


SETTINGS_CONTROLLERS: tuple[ControllerRouterHandler, ...] = (
    SettingsController,
    TariffPagesController,
    WebhookPagesController,
    StaffPagesController,
    ApiKeyPagesController,
    PartnerPagesController,
)
