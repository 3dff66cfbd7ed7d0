"""``/console/settings/tariffs``: the tenant's tariffs (list, create, change), where they apply
(assign to the network, a location or an EVSE; remove), and a live preview of the price text
a driver reads, from the same ``price_text`` the API answers.

Prices are typed in the currency's units (3.49 SEK) and sent to the API's services in minor
units; the percentages of VAT in per cent (25), stored as basis points.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Controller, MediaType, Request, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath
from litestar.response import Redirect, Template

from app.chargers.controllers import provide_chargers, provide_locations
from app.chargers.service import ChargerService, LocationService
from app.console.pages.settings.forms import FormErrors, convert, form_of, major_of, minor_of, problem, text
from app.console.render import render, render_fragment
from app.core.auth import can_bill
from app.core.errors import Conflict, DomainError, InvalidInput
from app.tariffs.controllers import provide_tariffs
from app.tariffs.models import Tariff
from app.tariffs.pricing import TariffTerms, currency_exponent, price_text, validate_terms
from app.tariffs.schemas import TariffIn, TariffPatchIn
from app.tariffs.service import Scope, TariffService, terms_of

BASE = "/console/settings/tariffs"
# The form's money inputs (in the currency's units) and the API's fields (minor units).
AMOUNTS = {
    "pricePerKwh": "pricePerKwhMinor",
    "pricePerMinute": "pricePerMinuteMinor",
    "sessionFee": "sessionFeeMinor",
    "idleFeePerMinute": "idleFeePerMinuteMinor",
    "minPrice": "minPriceMinor",
    "maxPrice": "maxPriceMinor",
    "holdAmount": "holdAmountMinor",
}
OPTIONAL = frozenset({"minPrice", "maxPrice"})  # empty: no minimum, no maximum
# The API's field names (in its problems) -> the form's inputs.
RENAME = {api: form for form, api in AMOUNTS.items()} | {"vatRateBp": "vatRate"}
DEPENDENCIES = {
    "tariffs": Provide(provide_tariffs, sync_to_thread=False),
    "chargers": Provide(provide_chargers, sync_to_thread=False),
    "locations": Provide(provide_locations, sync_to_thread=False),
}


@dataclass(frozen=True)
class Target:
    """Somewhere a tariff can be assigned: ``value`` is ``<scope>:<id>`` (an EVSE by its eMI3 ID)."""

    value: str
    scope: Scope
    label: str


@dataclass(frozen=True)
class EvseTariff:
    evse_id: str
    charger: str
    location: str
    tariff: Tariff | None
    scope: str | None


def form_values(form: Any) -> dict[str, str]:
    """What was typed, to show again after a refusal."""
    names = ["name", "currency", "idleGraceMinutes", "vatRate", *AMOUNTS]
    values = {n: text(form, n) for n in names}
    values["active"] = "on" if form.get("active") else ""
    return values


def tariff_values(tariff: Tariff) -> dict[str, str]:
    exponent = currency_exponent(tariff.currency)
    values = {form: major_of(getattr(tariff, _snake(api)), exponent) for form, api in AMOUNTS.items()}
    values |= {
        "name": tariff.name,
        "currency": tariff.currency,
        "idleGraceMinutes": str(tariff.idle_grace_minutes),
        "vatRate": major_of(tariff.vat_rate_bp, 2).removesuffix(".00"),
        "active": "on" if tariff.active else "",
    }
    return values


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def api_fields(values: dict[str, str], currency: str) -> dict[str, Any]:
    """The form's values as the API's (camelCase) fields, amounts in minor units."""
    exponent = currency_exponent(currency)
    data: dict[str, Any] = {"name": values["name"], "currency": currency}
    for form, api in AMOUNTS.items():
        amount = minor_of(values[form], exponent, form)
        data[api] = amount if amount is not None or form in OPTIONAL else 0
    vat = minor_of(values["vatRate"], 2, "vatRate")
    if vat is None:
        raise InvalidInput("vatRate: give the VAT rate in per cent, e.g. 25", field="vatRate")
    data["vatRateBp"] = vat
    data["idleGraceMinutes"] = values["idleGraceMinutes"] or 0
    return data


def new_terms(values: dict[str, str]) -> TariffTerms:
    return convert(api_fields(values, values["currency"].upper()), TariffIn).terms()


def changed_terms(tariff: Tariff, values: dict[str, str]) -> TariffTerms:
    """The tariff as the form would leave it: its currency and time-of-day bands kept."""
    terms = convert(api_fields(values, tariff.currency), TariffIn).terms()
    return msgspec.structs.replace(terms, bands=terms_of(tariff).bands)


async def targets_of(tenant_id: uuid.UUID, locations: LocationService, chargers: ChargerService) -> list[Target]:
    targets = [Target(f"operator:{tenant_id}", "operator", "")]
    targets += [Target(f"location:{loc.id}", "location", loc.name) for loc in await locations.list(limit=100)]
    for cp in await chargers.list(limit=100):
        for evse in sorted(cp.evses, key=lambda e: e.evse_number):
            targets.append(Target(f"evse:{evse.evse_id}", "evse", f"{evse.evse_id} ({cp.identity})"))
    return targets


async def where_tariffs_apply(
    tariffs: TariffService, locations: LocationService, chargers: ChargerService
) -> list[EvseTariff]:
    """Each EVSE's tariff in force and the level it comes from (the API's GetEvseTariff)."""
    names = {loc.id: loc.name for loc in await locations.list(limit=100)}
    rows = []
    for cp in await chargers.list(limit=100):
        for evse in sorted(cp.evses, key=lambda e: e.evse_number):
            resolved = await tariffs.resolved(evse.id)
            rows.append(
                EvseTariff(
                    evse_id=evse.evse_id,
                    charger=cp.identity,
                    location=names.get(cp.location_id, "") if cp.location_id else "",
                    tariff=resolved.tariff if resolved else None,
                    scope=resolved.scope if resolved else None,
                )
            )
    return rows


async def target_pk(tariffs: TariffService, value: str) -> tuple[Scope, uuid.UUID]:
    scope, _, ident = value.partition(":")
    if scope == "evse":
        return "evse", await tariffs.evse_pk(ident)
    if scope in ("location", "operator"):
        try:
            return scope, uuid.UUID(ident)  # type: ignore[return-value]
        except ValueError:
            pass
    raise InvalidInput("choose where the tariff applies", field="target")


class TariffPagesController(Controller):
    path = BASE
    dependencies = DEPENDENCIES

    async def _index(
        self,
        request: Request[Any, Any, Any],
        tariffs: TariffService,
        chargers: ChargerService,
        locations: LocationService,
        tenant_id: uuid.UUID,
        *,
        values: dict[str, str] | None = None,
        errors: FormErrors | None = None,
        assign_errors: FormErrors | None = None,
        status_code: int = 200,
    ) -> Template:
        return render(
            request,
            "console/settings/tariffs.html",
            nav="settings",
            sub="tariffs",
            tariffs=[(t, price_text(terms_of(t))) for t in await tariffs.list(limit=100)],
            where=await where_tariffs_apply(tariffs, locations, chargers),
            targets=await targets_of(tenant_id, locations, chargers),
            values=values or {"currency": "SEK", "vatRate": "25", "idleGraceMinutes": "0"},
            errors=errors or FormErrors(),
            assign_errors=assign_errors or FormErrors(),
            notice=request.query_params.get("done"),
            status_code=status_code,
        )

    @get("/", name="console:tariffs")
    async def index(
        self,
        request: Request[Any, Any, Any],
        tariffs: NamedDependency[TariffService],
        chargers: NamedDependency[ChargerService],
        locations: NamedDependency[LocationService],
        tenant_id: NamedDependency[uuid.UUID],
    ) -> Template:
        return await self._index(request, tariffs, chargers, locations, tenant_id)

    @post("/", guards=[can_bill], status_code=303, operation_id="CreateTariff")
    async def create(
        self,
        request: Request[Any, Any, Any],
        tariffs: NamedDependency[TariffService],
        chargers: NamedDependency[ChargerService],
        locations: NamedDependency[LocationService],
        tenant_id: NamedDependency[uuid.UUID],
    ) -> Redirect | Template:
        values = form_values(await form_of(request))
        try:
            tariff = await tariffs.create(new_terms(values))
        except (InvalidInput, Conflict) as exc:
            return await self._index(
                request, tariffs, chargers, locations, tenant_id,
                values=values, errors=problem(exc, rename=RENAME), status_code=exc.status,
            )  # fmt: skip
        return Redirect(f"{BASE}/{tariff.id}?done=created", status_code=303)

    @post("/preview", name="console:tariff-preview", status_code=200, media_type=MediaType.HTML)
    async def preview(self, request: Request[Any, Any, Any]) -> str:
        """The price text of the tariff being typed (an htmx fragment); nothing is stored."""
        values = form_values(await form_of(request))
        # The price text does not name the tariff: an unnamed one is previewed all the same.
        values["name"] = values["name"] or "-"
        return await _preview(request, lambda: new_terms(values))

    @post("/unassign", guards=[can_bill], status_code=303, operation_id="UnassignTariff")
    async def unassign(
        self,
        request: Request[Any, Any, Any],
        tariffs: NamedDependency[TariffService],
        chargers: NamedDependency[ChargerService],
        locations: NamedDependency[LocationService],
        tenant_id: NamedDependency[uuid.UUID],
    ) -> Redirect | Template:
        try:
            scope, pk = await target_pk(tariffs, text(await form_of(request), "target"))
            await tariffs.unassign(scope, pk)
        except DomainError as exc:
            if exc.status not in (404, 409, 422):
                raise
            return await self._index(
                request, tariffs, chargers, locations, tenant_id,
                assign_errors=problem(exc, rename={"evseId": "target", "locationId": "target", "operatorId": "target"}),
                status_code=exc.status,
            )  # fmt: skip
        return Redirect(f"{BASE}?done=unassigned", status_code=303)

    async def _tariff(
        self,
        request: Request[Any, Any, Any],
        tariff: Tariff,
        targets: list[Target],
        *,
        values: dict[str, str] | None = None,
        errors: FormErrors | None = None,
        assign_errors: FormErrors | None = None,
        status_code: int = 200,
    ) -> Template:
        return render(
            request,
            "console/settings/tariff.html",
            nav="settings",
            sub="tariffs",
            tariff=tariff,
            terms=terms_of(tariff),
            price_text=price_text(terms_of(tariff)),
            values=values or tariff_values(tariff),
            targets=targets,
            errors=errors or FormErrors(),
            assign_errors=assign_errors or FormErrors(),
            notice=request.query_params.get("done"),
            status_code=status_code,
        )

    @get("/{tariff_id:uuid}", name="console:tariff")
    async def tariff(
        self,
        request: Request[Any, Any, Any],
        tariff_id: FromPath[uuid.UUID],
        tariffs: NamedDependency[TariffService],
        chargers: NamedDependency[ChargerService],
        locations: NamedDependency[LocationService],
        tenant_id: NamedDependency[uuid.UUID],
    ) -> Template:
        tariff = await tariffs.get(tariff_id)
        return await self._tariff(request, tariff, await targets_of(tenant_id, locations, chargers))

    @post("/{tariff_id:uuid}", guards=[can_bill], status_code=303, operation_id="UpdateTariff")
    async def change(
        self,
        request: Request[Any, Any, Any],
        tariff_id: FromPath[uuid.UUID],
        tariffs: NamedDependency[TariffService],
        chargers: NamedDependency[ChargerService],
        locations: NamedDependency[LocationService],
        tenant_id: NamedDependency[uuid.UUID],
    ) -> Redirect | Template:
        tariff = await tariffs.get(tariff_id)
        values = form_values(await form_of(request))
        try:
            fields = api_fields(values, tariff.currency)
            fields.pop("currency")  # fixed at creation (the API refuses a change)
            patch = convert({**fields, "active": bool(values["active"])}, TariffPatchIn)
            await tariffs.update(tariff_id, patch.changes())
        except (InvalidInput, Conflict) as exc:
            targets = await targets_of(tenant_id, locations, chargers)
            await tariffs.db.rollback()
            tariff = await tariffs.get(tariff_id)
            return await self._tariff(
                request, tariff, targets, values=values, errors=problem(exc, rename=RENAME), status_code=exc.status
            )
        return Redirect(f"{BASE}/{tariff_id}?done=saved", status_code=303)

    @post("/{tariff_id:uuid}/preview", name="console:tariff-change-preview", status_code=200, media_type=MediaType.HTML)
    async def change_preview(
        self, request: Request[Any, Any, Any], tariff_id: FromPath[uuid.UUID], tariffs: NamedDependency[TariffService]
    ) -> str:
        tariff = await tariffs.get(tariff_id)
        values = form_values(await form_of(request))
        values["name"] = values["name"] or "-"
        return await _preview(request, lambda: changed_terms(tariff, values))

    @post("/{tariff_id:uuid}/assign", guards=[can_bill], status_code=303, operation_id="AssignTariff")
    async def assign(
        self,
        request: Request[Any, Any, Any],
        tariff_id: FromPath[uuid.UUID],
        tariffs: NamedDependency[TariffService],
        chargers: NamedDependency[ChargerService],
        locations: NamedDependency[LocationService],
        tenant_id: NamedDependency[uuid.UUID],
    ) -> Redirect | Template:
        tariff = await tariffs.get(tariff_id)
        try:
            scope, pk = await target_pk(tariffs, text(await form_of(request), "target"))
            await tariffs.assign(scope, pk, tariff_id)
        except DomainError as exc:
            if exc.status not in (404, 409, 422):
                raise
            targets = await targets_of(tenant_id, locations, chargers)
            rename = {"evseId": "target", "locationId": "target", "operatorId": "target", "tariffId": "target"}
            return await self._tariff(
                request, tariff, targets, assign_errors=problem(exc, rename=rename), status_code=exc.status
            )
        return Redirect(f"{BASE}/{tariff_id}?done=assigned", status_code=303)


async def _preview(request: Request[Any, Any, Any], build: Any) -> str:
    try:
        terms: TariffTerms = build()
        validate_terms(terms)
    except DomainError as exc:
        return render_fragment(request, "console/settings/_preview.html", price_text=None, error=exc.detail)
    return render_fragment(request, "console/settings/_preview.html", price_text=price_text(terms), error=None)
