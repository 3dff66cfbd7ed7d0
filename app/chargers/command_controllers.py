"""HTTP: the command audit log and diagnostics files of a charger (operator), and the upload
URLs chargers send diagnostics to. Sending a command is app/sessions/command_controllers.py:
a remote stop names our transaction, which only the sessions' area knows."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

from litestar import Controller, Request, Response, get, post, put
from litestar.datastructures import State, UploadFile
from litestar.di import NamedDependency, Provide
from litestar.exceptions import HTTPException
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession

from app.chargers.command_service import MAX_UPLOAD_BYTES, ChargerCommandService, DiagnosticsService
from app.chargers.errors import (
    ChargerNotFound,
    UploadAlreadyDone,
    UploadNotFound,
    UploadsBusy,
    UploadTooLarge,
)
from app.chargers.schemas import CommandOut, CommandPageOut, DiagnosticsFileListOut, DiagnosticsFileOut
from app.core.auth import OPERATOR_PROBLEMS
from app.core.errors import InvalidInput
from app.core.http import PageParams, handle_domain_error, problems


def provide_commands(db: NamedDependency[AsyncSession], state: State, tenant_id: uuid.UUID) -> ChargerCommandService:
    return ChargerCommandService.of(db, state.bus, state.settings, tenant_id=tenant_id)


def provide_diagnostics(db: NamedDependency[AsyncSession], state: State) -> DiagnosticsService:
    return DiagnosticsService(db, state.bus)


def provide_tenant_diagnostics(
    db: NamedDependency[AsyncSession], state: State, tenant_id: uuid.UUID
) -> DiagnosticsService:
    """The operator's view: its own chargers' files only."""
    return DiagnosticsService(db, state.bus, tenant_id=tenant_id)


class CommandController(Controller):
    path = "/chargers/{charger_id:uuid}"
    tags = ("commands",)
    dependencies = {  # noqa: RUF012 (read once by Litestar)
        "commands": Provide(provide_commands, sync_to_thread=False),
        "diagnostics": Provide(provide_tenant_diagnostics, sync_to_thread=False),
    }

    @get(
        "/commands",
        operation_id="ListCommands",
        summary="The charger's command audit log, newest first",
        responses=problems(*OPERATOR_PROBLEMS, ChargerNotFound),
    )
    async def history(
        self,
        charger_id: FromPath[uuid.UUID],
        page: NamedDependency[PageParams],
        commands: NamedDependency[ChargerCommandService],
    ) -> CommandPageOut:
        rows = await commands.history(charger_id, limit=page.limit, offset=page.offset)
        return CommandPageOut(
            items=[CommandOut.of(c) for c in rows],
            total=await commands.count(charger_id),
            limit=page.limit,
            offset=page.offset,
        )

    @get(
        "/diagnostics",
        operation_id="ListDiagnostics",
        summary="Diagnostics / log files requested from the charger",
        responses=problems(*OPERATOR_PROBLEMS, ChargerNotFound),
    )
    async def list_diagnostics(
        self, charger_id: FromPath[uuid.UUID], diagnostics: NamedDependency[DiagnosticsService]
    ) -> DiagnosticsFileListOut:
        return DiagnosticsFileListOut(items=[DiagnosticsFileOut.of(f) for f in await diagnostics.list(charger_id)])

    @get(
        "/diagnostics/{file_id:uuid}/content",
        operation_id="DownloadDiagnostics",
        summary="The uploaded file",
        media_type="application/octet-stream",
        responses=problems(*OPERATOR_PROBLEMS, UploadNotFound),
    )
    async def download(
        self,
        charger_id: FromPath[uuid.UUID],
        file_id: FromPath[uuid.UUID],
        diagnostics: NamedDependency[DiagnosticsService],
    ) -> Response[bytes]:
        upload = await diagnostics.content(charger_id, file_id)
        safe_name = "".join(ch for ch in (upload.filename or "diagnostics.log") if ch.isalnum() or ch in "._-")
        return Response(
            upload.content or b"",
            media_type=upload.content_type or "application/octet-stream",
            headers={"Content-Disposition": f'attachment; filename="{safe_name}"'},
        )


def _filename_from(disposition: str | None) -> str | None:
    if not disposition or "filename=" not in disposition:
        return None
    return disposition.split("filename=", 1)[1].split(";", 1)[0].strip().strip('"') or None


# What a busy answer tells the charger: chargers retry uploads (OCPP ``retries``) anyway.
BUSY_RETRY_AFTER_S = 30


class UploadSlots:
    """At most ``limit`` diagnostics uploads in progress in this process; one more is
    refused at once (``upload.busy``), never queued: a queue would hold the sockets open."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_use = 0

    @contextmanager
    def take(self) -> Iterator[None]:
        if self.in_use >= self.limit:
            raise UploadsBusy(f"at most {self.limit} uploads at once")
        self.in_use += 1
        try:
            yield
        finally:
            self.in_use -= 1


def provide_upload_slots(state: State) -> UploadSlots:
    """Dependency ``upload_slots``: the app's one UploadSlots, made on first use."""
    slots = state.get("upload_slots")
    if slots is None:
        slots = state.upload_slots = UploadSlots(state.settings.http.max_concurrent_uploads)
    return cast(UploadSlots, slots)


def _busy(request: Request[Any, Any, Any], exc: UploadsBusy) -> Response[bytes]:
    """The usual problem answer, with when to try again."""
    response = handle_domain_error(request, exc)
    response.headers["Retry-After"] = str(BUSY_RETRY_AFTER_S)
    return response


async def _read_bounded(request: Request[Any, Any, Any]) -> bytes:
    """The body, streamed, refused once it passes MAX_UPLOAD_BYTES (a chunked body
    declares no length)."""
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_UPLOAD_BYTES:
                raise UploadTooLarge(f"at most {MAX_UPLOAD_BYTES} bytes")
            chunks.append(chunk)
    except HTTPException as exc:
        if exc.status_code == UploadTooLarge.status:  # Litestar's own bound (request_max_body_size)
            raise UploadTooLarge(f"at most {MAX_UPLOAD_BYTES} bytes") from None
        raise
    return b"".join(chunks)


UPLOAD_PROBLEMS = (UploadNotFound, UploadAlreadyDone, UploadTooLarge, UploadsBusy)


class UploadController(Controller):
    """Where chargers upload diagnostics (1.6 GetDiagnostics, 2.0.1 GetLog).

    No bearer token: chargers have none. The unguessable one-time URL, valid for a day,
    is the credential; once a file arrived it answers 409. The token is checked before
    the body is read, the body is read as a bounded stream, and at most
    LADDNAT_DIAGNOSTICS_MAX_CONCURRENT_UPLOADS are received at once (more: 503, Retry-After).
    """

    path = "/uploads/diagnostics"
    tags = ("uploads",)
    dependencies = {  # noqa: RUF012 (read once by Litestar)
        "diagnostics": Provide(provide_diagnostics, sync_to_thread=False),
        "upload_slots": Provide(provide_upload_slots, sync_to_thread=False),
    }
    request_max_body_size = MAX_UPLOAD_BYTES
    exception_handlers = {UploadsBusy: _busy}  # noqa: RUF012 (read once by Litestar)

    async def _receive(
        self,
        token: str,
        filename: str | None,
        request: Request[Any, Any, Any],
        diagnostics: DiagnosticsService,
        slots: UploadSlots,
    ) -> None:
        await diagnostics.check(token)
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES:
            raise UploadTooLarge(f"at most {MAX_UPLOAD_BYTES} bytes")
        with slots.take():
            content_type = request.headers.get("content-type", "")
            if content_type.startswith("multipart/form-data"):
                form = await request.form()  # bounded by request_max_body_size
                part = next((v for v in form.values() if isinstance(v, UploadFile)), None)
                if part is None:
                    raise InvalidInput("the multipart body has no file part")
                await diagnostics.receive(token, filename or part.filename, part.content_type, await part.read())
            else:
                body = await _read_bounded(request)
                name = filename or _filename_from(request.headers.get("content-disposition"))
                await diagnostics.receive(token, name, content_type or None, body)

    @post(
        "/{token:str}",
        operation_id="UploadDiagnosticsPost",
        status_code=201,
        responses=problems(*UPLOAD_PROBLEMS),
    )
    async def post_file(
        self,
        token: FromPath[str],
        request: Request[Any, Any, Any],
        diagnostics: NamedDependency[DiagnosticsService],
        upload_slots: NamedDependency[UploadSlots],
    ) -> None:
        await self._receive(token, None, request, diagnostics, upload_slots)

    @put(
        "/{token:str}",
        operation_id="UploadDiagnosticsPut",
        status_code=201,
        responses=problems(*UPLOAD_PROBLEMS),
    )
    async def put_file(
        self,
        token: FromPath[str],
        request: Request[Any, Any, Any],
        diagnostics: NamedDependency[DiagnosticsService],
        upload_slots: NamedDependency[UploadSlots],
    ) -> None:
        await self._receive(token, None, request, diagnostics, upload_slots)

    # Some chargers append the file name to the location they were given.
    @post(
        "/{token:str}/{filename:str}",
        operation_id="UploadDiagnosticsPostNamed",
        status_code=201,
        responses=problems(*UPLOAD_PROBLEMS),
    )
    async def post_named(
        self,
        token: FromPath[str],
        filename: FromPath[str],
        request: Request[Any, Any, Any],
        diagnostics: NamedDependency[DiagnosticsService],
        upload_slots: NamedDependency[UploadSlots],
    ) -> None:
        await self._receive(token, filename, request, diagnostics, upload_slots)

    @put(
        "/{token:str}/{filename:str}",
        operation_id="UploadDiagnosticsPutNamed",
        status_code=201,
        responses=problems(*UPLOAD_PROBLEMS),
    )
    async def put_named(
        self,
        token: FromPath[str],
        filename: FromPath[str],
        request: Request[Any, Any, Any],
        diagnostics: NamedDependency[DiagnosticsService],
        upload_slots: NamedDependency[UploadSlots],
    ) -> None:
        await self._receive(token, filename, request, diagnostics, upload_slots)
