"""``/console/chargers/{identity}``: one charger: its EVSEs and connectors (live), details,
OCPP traffic, readings as charts, sessions, incidents, diagnostics files, and a form for
every remote command (operations and admin), with the charger's answer."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath
from litestar.response import ServerSentEvent, ServerSentEventMessage, Template

from app.chargers.command_service import DiagnosticsService, parse_args
from app.chargers.models import ChargePoint
from app.console.audit import unchanged
from app.console.charger_view import PAGE_SIZE, RANGES_H, ChargerView
from app.console.command_forms import (
    CONFIRM_FIELD,
    FORMS,
    CommandForm,
    FormError,
    as_json,
    form_args,
    missing_field,
    needs_confirmation,
    pretty,
)
from app.console.fleet import charger_status
from app.console.gate import CSRF_FIELD, clock_of, signed_in_of
from app.console.live import ConsoleLiveHub
from app.console.pages import charger_texts  # noqa: F401  (the page's texts)
from app.console.render import render, render_fragment
from app.core.auth import can_operate
from app.core.errors import DomainError, InvalidInput, NotFound
from app.sessions.commands import CommandService
from app.sessions.service import TransactionService


def _tenant(request: Request[Any, Any, Any]) -> Any:
    tenant_id = signed_in_of(request).caller.tenant_id
    assert tenant_id is not None  # the gate lets only an operator company's staff in
    return tenant_id


def _int(value: str | None, default: int, allowed: tuple[int, ...] | None = None) -> int:
    try:
        number = int(value or default)
    except ValueError:
        return default
    if allowed is not None:
        return number if number in allowed else default
    return max(1, min(number, 10_000))


def _form_of(name: str) -> CommandForm:
    form = FORMS.get(name)
    if form is None:
        raise NotFound(f"no command {name!r}")
    return form


def _is_htmx(request: Request[Any, Any, Any]) -> bool:
    return bool(request.headers.get("hx-request"))


class ChargerPageController(Controller):
    path = "/console/chargers/{identity:str}"

    @get("/", name="console:charger")
    async def charger(self, request: Request[Any, Any, Any], state: State, identity: FromPath[str]) -> Template:
        q = request.query_params
        async with state.sessionmaker() as db:
            view = ChargerView(db, state.bus, state.settings, _tenant(request), clock=clock_of(request))
            page = await view.page(
                identity,
                hours=_int(q.get("hours"), 1, RANGES_H),
                log_page=_int(q.get("log"), 1),
                events_page=_int(q.get("events"), 1),
                sessions_page=_int(q.get("sessions"), 1),
            )
        return render(
            request,
            "console/charger/index.html",
            nav="chargers",
            view=page,
            cp=page.charger,
            forms=FORMS.values(),
            ranges=RANGES_H,
            as_json=as_json,
            page_size=PAGE_SIZE,
            values={},
            errors={},
        )

    @get("/live", name="console:charger-live")
    async def live(self, request: Request[Any, Any, Any], state: State, identity: FromPath[str]) -> ServerSentEvent:
        """A server-sent event ``evses`` (the EVSE and connector table, with the charger's
        status) after each change of it; the first brings it at once."""
        hub: ConsoleLiveHub = state.console_hub
        tenant_id = _tenant(request)

        async def read() -> ChargePoint:
            async with state.sessionmaker() as db:
                return await ChargerView(db, state.bus, state.settings, tenant_id, clock=clock_of(request)).charger(
                    identity
                )

        await read()  # another tenant's charger: 404 before any stream

        async def stream() -> AsyncIterator[ServerSentEventMessage]:
            sent = ""
            changed = True
            changes = hub.changes(tenant_id)
            try:
                while True:
                    if changed:
                        cp = await read()
                        html = render_fragment(request, "console/charger/_evses.html", cp=cp, status=charger_status(cp))
                        if html != sent:
                            sent = html
                            yield ServerSentEventMessage(event="evses", data=html)
                    else:
                        yield ServerSentEventMessage(comment="keepalive")
                    changed = await anext(changes)
            finally:
                await changes.aclose()

        return ServerSentEvent(stream(), headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @get("/commands/{name:str}", name="console:charger-command-form")
    async def command_form(
        self, request: Request[Any, Any, Any], state: State, identity: FromPath[str], name: FromPath[str]
    ) -> Template:
        """A command's empty form (the confirmation's Cancel; without htmx, a page of its own)."""
        form = _form_of(name)
        async with state.sessionmaker() as db:
            cp, active = await self._charger_and_sessions(request, state, db, identity)
        return self._answer(request, cp, form, active, values={}, errors={})

    @post(
        "/commands/{name:str}",
        name="console:charger-command",
        operation_id="SendCommand",
        guards=[can_operate],
        status_code=200,
    )
    async def send(
        self, request: Request[Any, Any, Any], state: State, identity: FromPath[str], name: FromPath[str]
    ) -> Template:
        """Send the command as the API's ``SendCommand`` does; answer with the form again and
        the charger's answer (or the problem, or, for a command that interrupts a driver,
        a confirmation step first)."""
        form = _form_of(name)
        submitted = await request.form()
        values = {k: v for k, v in submitted.items() if isinstance(v, str) and k not in (CSRF_FIELD, CONFIRM_FIELD)}
        caller = signed_in_of(request).caller
        async with state.sessionmaker() as db:
            cp, active = await self._charger_and_sessions(request, state, db, identity)
            try:
                args = form_args(form, values)
                parse_args(name, args)  # bad input: shown next to its field, nothing sent
            except FormError as err:
                return self._answer(
                    request, cp, form, active, values=values, errors={err.field: err.message}, status=422
                )
            except InvalidInput as err:
                field = err.extra.get("field") or missing_field(err.detail) or ""
                return self._answer(request, cp, form, active, values=values, errors={field: err.detail}, status=422)
            if needs_confirmation(form, args) and submitted.get(CONFIRM_FIELD) != "yes":
                unchanged(request)
                return self._answer(request, cp, form, active, values=values, errors={}, confirm=True)
            commands = CommandService.of(db, state.bus, state.settings, tenant_id=_tenant(request))
            try:
                entry = await commands.send(cp.id, name, args, by=caller.id if caller.kind == "user" else None)
            except DomainError as err:
                return self._answer(request, cp, form, active, values=values, errors={}, problem=err, status=err.status)
        return self._answer(request, cp, form, active, values=values, errors={}, entry=entry)

    @get("/diagnostics/{file_id:uuid}", name="console:charger-diagnostics")
    async def download(
        self, request: Request[Any, Any, Any], state: State, identity: FromPath[str], file_id: FromPath[uuid.UUID]
    ) -> Response[bytes]:
        """The uploaded file, as the API's ``DownloadDiagnostics`` gives it."""
        async with state.sessionmaker() as db:
            tenant_id = _tenant(request)
            cp = await ChargerView(db, state.bus, state.settings, tenant_id, clock=clock_of(request)).charger(identity)
            upload = await DiagnosticsService(db, state.bus, tenant_id=tenant_id).content(cp.id, file_id)
        safe_name = "".join(ch for ch in (upload.filename or "diagnostics.log") if ch.isalnum() or ch in "._-")
        return Response(
            upload.content or b"",
            media_type=upload.content_type or "application/octet-stream",
            headers={"Content-Disposition": f'attachment; filename="{safe_name}"'},
        )

    async def _charger_and_sessions(
        self, request: Request[Any, Any, Any], state: State, db: Any, identity: str
    ) -> tuple[ChargePoint, Any]:
        tenant_id = _tenant(request)
        cp = await ChargerView(db, state.bus, state.settings, tenant_id, clock=clock_of(request)).charger(identity)
        active = await TransactionService(db, state.bus, tenant_id=tenant_id).list(
            charge_point_id=cp.id, status="active", limit=PAGE_SIZE
        )
        return cp, active

    def _answer(
        self,
        request: Request[Any, Any, Any],
        cp: ChargePoint,
        form: CommandForm,
        active: Any,
        *,
        values: Mapping[str, str],
        errors: Mapping[str, str],
        status: int = 200,
        confirm: bool = False,
        entry: Any = None,
        problem: DomainError | None = None,
    ) -> Template:
        """htmx: the command's box (always 200: htmx swaps only successes); otherwise a page
        of its own with the real status."""
        context = {
            "cp": cp,
            "form": form,
            "active_sessions": active,
            "values": values,
            "errors": errors,
            "confirm": confirm,
            "entry": entry,
            "answer": pretty(entry.answer) if entry is not None and entry.answer else "",
            "problem": problem,
        }
        if _is_htmx(request):
            return render(request, "console/charger/_command.html", **context)
        return render(request, "console/charger/command.html", nav="chargers", status_code=status, **context)
