"""Commands to chargers: validate, record in the audit log, send over the bus, record the answer.

``ChargerCommandService`` speaks the charger's own terms: a remote stop carries the
charger's transaction id (``chargerTransactionId``). Callers name our transaction instead
and go through ``app.sessions.commands.CommandService``, which resolves it and sends the
command here; only ``by``/``origin`` differ in the audit log. The calls the bridge makes on
its own after a boot (the configuration profile) are audited by ``BootConfigurationRecorder``.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import msgspec
from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer

from app.chargers.commands import (
    COMMANDS,
    Args,
    CommandReply,
    CommandRequest,
    GetBaseReportArgs,
    GetDiagnosticsArgs,
    RemoteStartArgs,
    RemoteStopArgs,
    ReserveNowArgs,
    UpdateFirmwareArgs,
    subject_for,
)
from app.chargers.errors import (
    ChargerCallError,
    ChargerNotFound,
    ChargerOffline,
    ChargerTimeout,
    CommandNotSupported,
    CommandsUnavailable,
    UnknownCommand,
    UploadAlreadyDone,
    UploadNotFound,
    UploadTooLarge,
)
from app.chargers.events import CommandAnswered, DiagnosticsUploaded
from app.chargers.models import ChargePoint, CommandLog, DiagnosticsFile
from app.core.batching import GroupCommit, Write
from app.core.bus import Bus, BusUnavailable, NoResponders
from app.core.database import new_id, next_number, scoped, utcnow
from app.core.errors import InvalidInput
from app.core.security import digest_secret
from app.core.settings import Settings

UPLOAD_TTL = timedelta(hours=24)
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
# The bus waits a little longer than the bridge, so the bridge's own timeout answer wins.
BUS_MARGIN_S = 5.0


def parse_args(name: str, raw: Any) -> Args:
    """The command's arguments, or InvalidInput naming the field."""
    args_type = COMMANDS.get(name)
    if args_type is None:
        raise UnknownCommand(f"{name!r}; known: {', '.join(sorted(COMMANDS))}")
    try:
        return msgspec.convert(raw if raw is not None else {}, args_type)
    except msgspec.ValidationError as err:
        message = str(err)
        field = message.rsplit("at `$.", 1)[1].rstrip("`") if "at `$." in message else None
        if field is None and "unknown field `" in message:
            field = message.split("unknown field `", 1)[1].split("`", 1)[0]
        raise InvalidInput(message, field=field) from None


UPLOAD_PATH = "/uploads/diagnostics/"
REDACTED = "***"


def redact_upload_url(url: str) -> str:
    """The upload URL with its token (the only credential of the unauthenticated upload)
    replaced by ``***``: what the audit log stores and operators see."""
    head, sep, _token = url.partition(UPLOAD_PATH)
    return f"{head}{sep}{REDACTED}" if sep else REDACTED


def redacted(args: dict[str, Any]) -> dict[str, Any]:
    """Command arguments as they may be stored and shown: without the upload URL's secret."""
    url = args.get("uploadUrl")
    if not isinstance(url, str):
        return args
    return {**args, "uploadUrl": redact_upload_url(url)}


class ChargerCommandService:
    def __init__(
        self,
        db: AsyncSession,
        bus: Bus,
        *,
        public_base_url: str,
        timeout_s: float = 30.0,
        clock: Callable[[], datetime] = utcnow,
        tenant_id: uuid.UUID | None = None,
    ) -> None:
        self.db = db
        self.bus = bus
        self.public_base_url = public_base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.clock = clock
        # An operator request's tenant: its chargers only. None: the system's own view.
        self.tenant_id = tenant_id

    @classmethod
    def of(
        cls,
        db: AsyncSession,
        bus: Bus,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
        tenant_id: uuid.UUID | None = None,
    ) -> ChargerCommandService:
        """The service as configured (upload URLs from the public base URL, the command timeout)."""
        return cls(
            db,
            bus,
            public_base_url=settings.http.public_base_url,
            timeout_s=settings.ocpp.command_timeout_s,
            clock=clock,
            tenant_id=tenant_id,
        )

    async def charger(self, charger_id: uuid.UUID) -> ChargePoint:
        """The charge point commands go to; ChargerNotFound if there is none (or it is
        another tenant's): every command is sent through here."""
        stmt = select(ChargePoint).where(ChargePoint.id == charger_id)
        cp = await self.db.scalar(scoped(stmt, ChargePoint.operator_id, self.tenant_id))
        if cp is None:
            raise ChargerNotFound()
        return cp

    async def send(
        self,
        charger_id: uuid.UUID,
        name: str,
        args: Args,
        *,
        by: uuid.UUID | None = None,
        origin: str = "operator",
    ) -> CommandLog:
        """Send a command (its arguments from ``parse_args``) and return its audit entry with
        the charger's answer.

        Raises ChargerNotFound (404) or, after recording the attempt so the audit log has it
        too, ChargerOffline (409), ChargerTimeout (504), ChargerCallError (502) or an
        InvalidInput (422).
        """
        cp = await self.charger(charger_id)
        args = await self._complete(cp, name, args)
        sent: dict[str, Any] = msgspec.to_builtins(args)
        entry = CommandLog(
            charge_point_id=cp.id,
            name=name,
            args=redacted(sent),
            requested_by=by,
            origin=origin,
            requested_at=self.clock(),
        )
        self.db.add(entry)
        await self.db.flush()
        if isinstance(args, GetDiagnosticsArgs):
            upload = await self.db.scalar(select(DiagnosticsFile).where(DiagnosticsFile.request_id == args.request_id))
            if upload is not None:
                upload.command_id = entry.id
        await self.db.commit()

        # The charger alone gets the real upload URL; the audit log and events keep it redacted.
        request = CommandRequest(name=name, args=sent, timeout_s=self.timeout_s)
        try:
            raw = await self.bus.request(
                subject_for(cp.identity), msgspec.json.encode(request), self.timeout_s + BUS_MARGIN_S
            )
            reply = msgspec.json.decode(raw, type=CommandReply)
        except NoResponders:
            reply = CommandReply(outcome="offline", error_description="the charger is not connected")
        except BusUnavailable as exc:
            reply = CommandReply(outcome="unavailable", error_description=str(exc))
        except TimeoutError:
            reply = CommandReply(outcome="timeout", error_description="no answer from the bridge")
        self._record(entry, reply)
        await self.db.commit()
        self.bus.publish(
            CommandAnswered(
                identity=cp.identity,
                name=name,
                outcome=entry.outcome or reply.outcome,
                status=(entry.answer or {}).get("status") if entry.answer else None,
                args=entry.args,
                at=self.clock(),
            )
        )
        self._raise_for(entry, reply)
        return entry

    async def _complete(self, cp: ChargePoint, name: str, args: Args) -> Args:
        """Fill in what only the CSMS knows: request ids, URLs."""
        if isinstance(args, RemoteStopArgs) and args.charger_transaction_id is None:
            # Resolved by the caller (app.sessions.commands): never sent without it.
            raise InvalidInput("chargerTransactionId: required", field="chargerTransactionId")
        if isinstance(args, RemoteStartArgs) and args.remote_start_id is None:
            return msgspec.structs.replace(args, remote_start_id=await next_number(self.db, "remote_start"))
        if isinstance(args, ReserveNowArgs) and args.reservation_id is None:
            return msgspec.structs.replace(args, reservation_id=await next_number(self.db, "reservation"))
        if isinstance(args, GetBaseReportArgs | UpdateFirmwareArgs) and args.request_id is None:
            return msgspec.structs.replace(args, request_id=await next_number(self.db, "request"))
        if isinstance(args, GetDiagnosticsArgs):
            request_id = await next_number(self.db, "request")
            token = secrets.token_urlsafe(32)
            self.db.add(
                DiagnosticsFile(
                    charge_point_id=cp.id,
                    request_id=request_id,
                    token_hash=digest_secret(token),
                    expires_at=self.clock() + UPLOAD_TTL,
                )
            )
            return msgspec.structs.replace(
                args, request_id=request_id, upload_url=f"{self.public_base_url}{UPLOAD_PATH}{token}"
            )
        return args

    def _record(self, entry: CommandLog, reply: CommandReply) -> None:
        entry.outcome = reply.outcome
        entry.answer_status = reply.status
        entry.answer = reply.data if reply.outcome == "answered" else None
        entry.error_code = reply.error_code
        entry.error_description = (reply.error_description or "")[:255] or None
        entry.answered_at = self.clock()

    @staticmethod
    def _raise_for(entry: CommandLog, reply: CommandReply) -> None:
        ids = {"command_id": str(entry.id)}
        if reply.outcome == "answered":
            return
        if reply.outcome == "offline":
            raise ChargerOffline("the charger is not connected to any bridge", **ids)
        if reply.outcome == "unavailable":
            raise CommandsUnavailable("the message bus is unreachable: nothing was sent", **ids)
        if reply.outcome == "timeout":
            raise ChargerTimeout(reply.error_description or "no answer", **ids)
        if reply.outcome == "call_error":
            raise ChargerCallError(
                f"{reply.error_code}: {reply.error_description}",
                ocpp_error_code=reply.error_code,
                ocpp_error_description=reply.error_description,
                **ids,
            )
        if reply.outcome == "unsupported":
            raise CommandNotSupported(reply.error_description, **ids)
        raise InvalidInput(reply.error_description, field=reply.field, **ids)

    # -- reads ---------------------------------------------------------------------

    async def history(self, charger_id: uuid.UUID, *, limit: int = 50, offset: int = 0) -> Sequence[CommandLog]:
        await self.charger(charger_id)
        stmt = (
            select(CommandLog)
            .where(CommandLog.charge_point_id == charger_id)
            .order_by(CommandLog.requested_at.desc(), CommandLog.id)
            .limit(limit)
            .offset(offset)
        )
        return (await self.db.scalars(stmt)).all()

    async def count(self, charger_id: uuid.UUID) -> int:
        stmt = (
            select(func.count())
            .select_from(CommandLog)
            .join(ChargePoint, ChargePoint.id == CommandLog.charge_point_id)
            .where(CommandLog.charge_point_id == charger_id)
        )
        return int(await self.db.scalar(scoped(stmt, ChargePoint.operator_id, self.tenant_id)) or 0)


BOOT_CONFIGURATION = "boot-configuration"
# What a charger may answer to a setting it has applied (now, or at its next reboot).
APPLIED_STATUSES = frozenset({"Accepted", "RebootRequired"})

_log_t = cast(Table, CommandLog.__table__)
_cp_t = cast(Table, ChargePoint.__table__)
# Module-level: the group-commit writer batches units by statement identity.
_RECORD_CALL = insert(_log_t)
_REMEMBER_PROFILE = update(_cp_t).where(_cp_t.c.id == bindparam("cp")).values(boot_config_hash=bindparam("hash"))


@dataclass(frozen=True, slots=True)
class ChargerCall:
    """One CALL the bridge made to a charger on its own, and how it ended.

    ``outcome`` is a ``CommandLog`` outcome: ``answered`` (``answer`` and its
    ``answer_status``), ``call_error``, ``invalid`` (an answer that broke the schema) or
    ``timeout``.
    """

    action: str
    payload: dict[str, Any]
    requested_at: datetime
    answered_at: datetime
    outcome: str
    answer: dict[str, Any] | None = None
    answer_status: str | None = None
    error_code: str | None = None
    error_description: str | None = None

    @property
    def applied(self) -> bool:
        return self.outcome == "answered" and self.answer_status in APPLIED_STATUSES


class BootConfigurationRecorder:
    """The configuration profile the bridge pushes after a boot: each call goes to the
    command audit log (origin ``boot-configuration``), and a profile every call of which
    was applied is remembered on the charge point, so the next boot with the same profile
    and firmware pushes nothing. Through the group-commit writer, like the boot itself: a
    reconnect storm boots thousands of chargers at once."""

    def __init__(self, writer: GroupCommit) -> None:
        self.writer = writer

    async def record(self, charger_id: uuid.UUID, calls: Sequence[ChargerCall], *, profile_hash: str) -> bool:
        """Audit ``calls`` and, if every one was applied, remember ``profile_hash`` as the
        charger's; one transaction. True if the profile was remembered."""
        unit = [Write(_RECORD_CALL, _audit_row(charger_id, c)) for c in calls]
        applied = all(c.applied for c in calls)
        if applied:
            unit.append(Write(_REMEMBER_PROFILE, {"cp": charger_id, "hash": profile_hash}))
        await self.writer.submit(unit)
        return applied


def _audit_row(charger_id: uuid.UUID, c: ChargerCall) -> dict[str, Any]:
    return {
        "id": new_id(),
        "charge_point_id": charger_id,
        "name": BOOT_CONFIGURATION,
        "args": {"action": c.action, "payload": c.payload},
        "requested_by": None,
        "origin": BOOT_CONFIGURATION,
        "requested_at": c.requested_at,
        "outcome": c.outcome,
        "answer_status": c.answer_status,
        "answer": c.answer,
        "error_code": c.error_code,
        "error_description": None if c.error_description is None else c.error_description[:255],
        "answered_at": c.answered_at,
    }


class DiagnosticsService:
    """The one-time upload URLs chargers send diagnostics / logs to, and the stored files
    (with ``tenant_id``: only that operator company's chargers' files)."""

    def __init__(
        self,
        db: AsyncSession,
        bus: Bus | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
        tenant_id: uuid.UUID | None = None,
    ) -> None:
        self.db = db
        self.bus = bus
        self.clock = clock
        self.tenant_id = tenant_id

    async def check(self, token: str) -> None:
        """Raise UploadNotFound (unknown or expired) or UploadAlreadyDone unless ``token`` may
        upload now. Called before a byte of the body is read: the URL is the only credential
        of an unauthenticated endpoint, so a stranger's upload must cost us nothing."""
        await self._open_slot(token)
        await self.db.rollback()  # no transaction stays open while the body arrives

    async def _open_slot(self, token: str) -> DiagnosticsFile:
        upload = await self.db.scalar(select(DiagnosticsFile).where(DiagnosticsFile.token_hash == digest_secret(token)))
        if upload is None or upload.expires_at <= self.clock():
            raise UploadNotFound()
        if upload.uploaded_at is not None:
            raise UploadAlreadyDone()
        return upload

    async def receive(self, token: str, filename: str | None, content_type: str | None, content: bytes) -> None:
        if len(content) > MAX_UPLOAD_BYTES:
            raise UploadTooLarge(f"at most {MAX_UPLOAD_BYTES} bytes")
        upload = await self._open_slot(token)
        upload.filename = (filename or f"diagnostics-{upload.request_id}.log")[:255]
        upload.content_type = (content_type or "application/octet-stream")[:100]
        upload.size_bytes = len(content)
        upload.sha256 = await asyncio.to_thread(lambda: hashlib.sha256(content).hexdigest())
        upload.content = content
        upload.uploaded_at = self.clock()
        identity = await self.db.scalar(select(ChargePoint.identity).where(ChargePoint.id == upload.charge_point_id))
        event = DiagnosticsUploaded(
            identity=identity or "",
            file_id=upload.id,
            request_id=upload.request_id,
            size_bytes=len(content),
            at=upload.uploaded_at,
        )
        await self.db.commit()
        if self.bus is not None:
            self.bus.publish(event)  # an incident waiting for it gets it attached

    async def list(self, charger_id: uuid.UUID) -> Sequence[DiagnosticsFile]:
        found = select(ChargePoint.id).where(ChargePoint.id == charger_id)
        if await self.db.scalar(scoped(found, ChargePoint.operator_id, self.tenant_id)) is None:
            raise ChargerNotFound()
        stmt = (
            select(DiagnosticsFile)
            .where(DiagnosticsFile.charge_point_id == charger_id)
            .order_by(DiagnosticsFile.created_at.desc())
        )
        return (await self.db.scalars(stmt)).all()

    async def content(self, charger_id: uuid.UUID, file_id: uuid.UUID) -> DiagnosticsFile:
        stmt = (
            select(DiagnosticsFile)
            .join(ChargePoint, ChargePoint.id == DiagnosticsFile.charge_point_id)
            .where(DiagnosticsFile.id == file_id, DiagnosticsFile.charge_point_id == charger_id)
            .options(undefer(DiagnosticsFile.content))
        )
        upload = await self.db.scalar(scoped(stmt, ChargePoint.operator_id, self.tenant_id))
        if upload is None or upload.uploaded_at is None:
            raise UploadNotFound()
        return upload
