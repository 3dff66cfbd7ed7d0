"""``/console/uptime``: a site's uptime month by month (all ports together, as a chart with the
NEVI 97 % line, and per port as a table), the ports' 12-month NEVI figure, the exclusions and
a form to add one; the CSV and SVG files the operator API serves. Every figure and change is
``UptimeService``'s, built by the API's own dependency (``provide_uptime``), with the API's
guard on changes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from app.chargers.service import LocationService
from app.console.i18n import add_texts
from app.console.pages.uptime_texts import EN, SV
from app.console.render import render
from app.core.auth import Caller, can_operate
from app.core.errors import InvalidInput
from app.uptime.controllers import CSV, SVG, provide_uptime
from app.uptime.intervals import NEVI_THRESHOLD_PERCENT
from app.uptime.render import availability_csv, availability_svg, ports_csv
from app.uptime.schemas import (
    ExclusionReason,
    LocationAvailabilityOut,
    MonthFigureOut,
    PortUptimeReportOut,
    UptimeExclusionIn,
    UptimeExclusionOut,
)
from app.uptime.service import UptimeService

add_texts(en=EN, sv=SV)

REASONS: tuple[str, ...] = ExclusionReason.__args__  # type: ignore[attr-defined]
EXCLUSIONS_SHOWN = 50
MAX_LOCATIONS = 1000
# The chart's drawing box (SVG user units); the page scales it to its width.
WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 16, 40
# The API's field names -> the form's.
FORM_FIELDS = {"from": "from", "to": "to", "endsAt": "ends_at", "startsAt": "starts_at", "note": "note"}
FORM_FIELDS |= {"targetId": "target", "reason": "reason", "scope": "target"}


@dataclass(frozen=True, slots=True)
class MonthBar:
    month: str
    percent: float | None
    x: float
    y: float
    width: float
    height: float
    label_x: float
    meets: bool


@dataclass(frozen=True, slots=True)
class SiteChart:
    bars: list[MonthBar]
    threshold_y: float
    ticks: list[tuple[int, float]]  # (percent, y)


def _y(percent: float) -> float:
    return TOP + (HEIGHT - TOP - BOTTOM) * (1 - percent / 100)


def site_chart(months: list[MonthFigureOut]) -> SiteChart:
    """The site's uptime per month as bars on 0-100 %, with the NEVI line's height."""
    slot = (WIDTH - LEFT - RIGHT) / max(1, len(months))
    bars = []
    for n, m in enumerate(months):
        top = _y(m.uptime_percent) if m.uptime_percent is not None else _y(0)
        bars.append(
            MonthBar(
                month=m.month,
                percent=m.uptime_percent,
                x=round(LEFT + n * slot + slot * 0.15, 1),
                y=round(top, 1),
                width=round(slot * 0.7, 1),
                height=round(_y(0) - top, 1),
                label_x=round(LEFT + n * slot + slot / 2, 1),
                meets=m.uptime_percent is not None and m.uptime_percent >= NEVI_THRESHOLD_PERCENT,
            )
        )
    return SiteChart(bars, round(_y(NEVI_THRESHOLD_PERCENT), 1), [(p, round(_y(p), 1)) for p in range(0, 101, 20)])


def _month(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None


def _form_datetime(value: str) -> datetime | str:
    """A ``datetime-local`` value read as UTC; the text itself when it is none."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def exclusion_in(form: dict[str, str]) -> UptimeExclusionIn:
    """The form as the API's request body, checked the way the API checks it (msgspec)."""
    scope, _, target = form.get("target", "").partition(":")
    body = {
        "scope": scope,
        "targetId": target,
        "startsAt": _form_datetime(form.get("starts_at", "")),
        "endsAt": _form_datetime(form.get("ends_at", "")),
        "reason": form.get("reason", ""),
        "note": form.get("note", ""),
    }
    try:
        return msgspec.convert(body, UptimeExclusionIn)
    except msgspec.ValidationError as exc:
        path = str(exc).rsplit("$.", 1)[-1].rstrip("`") if "$." in str(exc) else ""
        raise FormProblem(FORM_FIELDS.get(path, "target"), str(exc)) from exc


class FormProblem(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass
class UptimeView:
    locations: dict[uuid.UUID, str]
    location: uuid.UUID | None
    since: str | None
    until: str | None
    report: LocationAvailabilityOut | None
    nevi: PortUptimeReportOut | None
    chart: SiteChart | None
    exclusions: list[UptimeExclusionOut]
    exclusions_total: int
    targets: dict[str, str]  # "<scope>:<id>" -> a name people know


async def read_view(
    request: Request[Any, Any, Any], uptime: UptimeService, db: AsyncSession, tenant_id: uuid.UUID
) -> tuple[UptimeView, dict[str, str]]:
    """The page's figures and the month fields' problems (bad months: no report)."""
    query = request.query_params
    rows = await LocationService(db, tenant_id=tenant_id).list(limit=MAX_LOCATIONS)
    locations = {row.id: row.name for row in rows}
    try:
        chosen: uuid.UUID | None = uuid.UUID(query["location"]) if query.get("location") else None
    except ValueError:
        chosen = None
    location = chosen or next(iter(locations), None)
    now = datetime.now(UTC)
    since = _month(query.get("from"))
    until = _month(query.get("to")) or f"{now.year:04d}-{now.month:02d}"
    problems: dict[str, str] = {}
    report = nevi = None
    if location is not None:
        try:
            # Another tenant's location: location.not_found, the console's 404 page.
            report = await uptime.availability(location, since=since, until=until)
            nevi = await uptime.nevi(month=None, location_id=location)
        except InvalidInput as exc:
            problems[FORM_FIELDS.get(str(exc.extra.get("field")), "to")] = exc.detail
    excluded, total = await uptime.exclusions(limit=EXCLUSIONS_SHOWN, offset=0)
    targets = {f"location:{i}": name for i, name in locations.items()}
    for port in report.ports if report else []:
        targets[f"charge_point:{port.charge_point_id}"] = port.charge_point_identity
        targets[f"port:{port.port_id}"] = f"{port.charge_point_identity} · {port.evse_id}"
    view = UptimeView(
        locations=locations,
        location=location,
        since=since or (report.since if report else None),
        until=until,
        report=report,
        nevi=nevi,
        chart=site_chart(report.site) if report else None,
        exclusions=[UptimeExclusionOut.of(e) for e in excluded],
        exclusions_total=total,
        targets=targets,
    )
    return view, problems


def _file(content: str, media_type: str, filename: str, *, attachment: bool) -> Response[bytes]:
    disposition = "attachment" if attachment else "inline"
    return Response(
        content.encode(),
        media_type=media_type,
        headers={"Content-Disposition": f'{disposition}; filename="{filename}"'},
    )


class UptimePagesController(Controller):
    path = "/console/uptime"
    dependencies = {"uptime": Provide(provide_uptime, sync_to_thread=False)}  # noqa: RUF012 (read once by Litestar)

    @get("/", name="console:uptime")
    async def page(
        self,
        request: Request[Any, Any, Any],
        uptime: NamedDependency[UptimeService],
        db: NamedDependency[AsyncSession],
        tenant_id: NamedDependency[uuid.UUID],
    ) -> Template:
        return await self._render(request, uptime, db, tenant_id)

    @post("/exclusions", name="console:uptime-exclude", operation_id="CreateUptimeExclusion", guards=[can_operate])
    async def exclude(
        self,
        request: Request[Any, Any, Any],
        uptime: NamedDependency[UptimeService],
        caller: NamedDependency[Caller],
        db: NamedDependency[AsyncSession],
        tenant_id: NamedDependency[uuid.UUID],
    ) -> Redirect | Template:
        form = {k: str(v) for k, v in (await request.form()).items()}
        back = f"/console/uptime?location={request.query_params.get('location', '')}"
        try:
            data = exclusion_in(form)
            await uptime.create_exclusion(data, by=caller.id if caller.kind == "user" else None)
        except FormProblem as problem:
            return await self._render(
                request, uptime, db, tenant_id, form=form, errors={problem.field: problem.message}
            )
        except InvalidInput as exc:
            await db.rollback()
            field = FORM_FIELDS.get(str(exc.extra.get("field")), "target")
            return await self._render(request, uptime, db, tenant_id, form=form, errors={field: exc.detail})
        return Redirect(f"{back}&done=excluded", status_code=303)

    @post(
        "/exclusions/{exclusion_id:uuid}/delete",
        name="console:uptime-unexclude",
        operation_id="DeleteUptimeExclusion",
        guards=[can_operate],
    )
    async def unexclude(
        self, request: Request[Any, Any, Any], exclusion_id: FromPath[uuid.UUID], uptime: NamedDependency[UptimeService]
    ) -> Redirect:
        await uptime.delete_exclusion(exclusion_id)  # another tenant's: not found
        location = request.query_params.get("location", "")
        return Redirect(f"/console/uptime?location={location}&done=deleted", status_code=303)

    @get("/{location_id:uuid}/availability.csv", name="console:uptime-csv")
    async def csv(
        self, request: Request[Any, Any, Any], location_id: FromPath[uuid.UUID], uptime: NamedDependency[UptimeService]
    ) -> Response[bytes]:
        q = request.query_params
        report = await uptime.availability(location_id, since=_month(q.get("from")), until=_month(q.get("to")))
        name = f"availability-{location_id}-{report.since}-{report.until}.csv"
        return _file(availability_csv(report), CSV, name, attachment=True)

    @get("/{location_id:uuid}/availability.svg", name="console:uptime-svg")
    async def svg(
        self, request: Request[Any, Any, Any], location_id: FromPath[uuid.UUID], uptime: NamedDependency[UptimeService]
    ) -> Response[bytes]:
        q = request.query_params
        report = await uptime.availability(location_id, since=_month(q.get("from")), until=_month(q.get("to")))
        name = f"availability-{location_id}-{report.since}-{report.until}.svg"
        return _file(availability_svg(report), SVG, name, attachment=False)

    @get("/{location_id:uuid}/ports.csv", name="console:uptime-ports-csv")
    async def ports(self, location_id: FromPath[uuid.UUID], uptime: NamedDependency[UptimeService]) -> Response[bytes]:
        report = await uptime.nevi(month=None, location_id=location_id)
        return _file(ports_csv(report), CSV, f"uptime-ports-{report.month}.csv", attachment=True)

    async def _render(
        self,
        request: Request[Any, Any, Any],
        uptime: UptimeService,
        db: AsyncSession,
        tenant_id: uuid.UUID,
        *,
        form: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
    ) -> Template:
        view, problems = await read_view(request, uptime, db, tenant_id)
        errors = {**problems, **(errors or {})}
        done = request.query_params.get("done")
        return render(
            request,
            "console/uptime/index.html",
            nav="uptime",
            status_code=422 if errors else 200,
            view=view,
            threshold=NEVI_THRESHOLD_PERCENT,
            reasons=REASONS,
            form=form or {},
            errors=errors,
            done=done if done in ("excluded", "deleted") else None,
            width=WIDTH,
            height=HEIGHT,
            left=LEFT,
            right=RIGHT,
            baseline=round(_y(0), 1),
        )
