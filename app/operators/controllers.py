"""HTTP: a company's API keys, staff users and audit log (mounted under the operator router,
admins only), and the platform API's operator companies (under /api/v1/platform)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from litestar import Controller, delete, get, patch, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import OPERATOR_PROBLEMS, Caller, can_administer
from app.core.errors import InvalidInput
from app.core.http import PageParams, problems
from app.drivers.errors import (
    InvalidEmail,
    InvalidRole,
    PasswordIsEmail,
    PasswordTooLong,
    UserAlreadyExists,
    WeakPassword,
)
from app.operators.api_keys import ApiKeyService
from app.operators.audit import AuditLog
from app.operators.errors import (
    ApiKeyInvalid,
    ApiKeyNotFound,
    ApiKeyRolesInvalid,
    LastAdmin,
    PartyTaken,
    StaffNotFound,
    TenantInvalid,
    TenantNotFound,
)
from app.operators.schemas import (
    ApiKeyIn,
    ApiKeyOut,
    ApiKeyPageOut,
    ApiKeySecretOut,
    AuditEntryOut,
    AuditPageOut,
    StaffIn,
    StaffOut,
    StaffPageOut,
    StaffPatchIn,
    TenantIn,
    TenantOut,
    TenantPageOut,
)
from app.operators.staff import StaffService
from app.operators.tenants import TenantService

NEW_USER_PROBLEMS = (InvalidEmail, InvalidRole, WeakPassword, PasswordTooLong, PasswordIsEmail, UserAlreadyExists)


def provide_api_keys(db: NamedDependency[AsyncSession], tenant_id: NamedDependency[uuid.UUID]) -> ApiKeyService:
    return ApiKeyService(db, tenant_id)


def provide_staff(db: NamedDependency[AsyncSession], tenant_id: NamedDependency[uuid.UUID]) -> StaffService:
    return StaffService(db, tenant_id)


def provide_audit_log(db: NamedDependency[AsyncSession], tenant_id: NamedDependency[uuid.UUID]) -> AuditLog:
    return AuditLog(db, tenant_id)


def provide_tenants(db: NamedDependency[AsyncSession]) -> TenantService:
    return TenantService(db)


class ApiKeyController(Controller):
    """Keys for the company's own integrations: ``Authorization: Bearer lnk_...``. A key acts
    with its roles in the company; it never reaches the driver API."""

    path = "/api-keys"
    tags = ("api keys",)
    guards = [can_administer]  # noqa: RUF012 (read once by Litestar)
    dependencies = {"api_keys": Provide(provide_api_keys, sync_to_thread=False)}  # noqa: RUF012

    @post(
        "/",
        operation_id="CreateApiKey",
        summary="Create a key; its secret is in this answer only",
        responses=problems(*OPERATOR_PROBLEMS, ApiKeyInvalid, ApiKeyRolesInvalid),
    )
    async def create_api_key(
        self, data: JSONBody[ApiKeyIn], caller: NamedDependency[Caller], api_keys: NamedDependency[ApiKeyService]
    ) -> ApiKeySecretOut:
        key, text = await api_keys.create(name=data.name, roles=data.roles, by=caller)
        return ApiKeySecretOut(api_key=ApiKeyOut.of(key), key=text)

    @get(
        "/",
        operation_id="ListApiKeys",
        summary="The company's keys, newest first",
        responses=problems(*OPERATOR_PROBLEMS),
    )
    async def list_api_keys(
        self, page: NamedDependency[PageParams], api_keys: NamedDependency[ApiKeyService]
    ) -> ApiKeyPageOut:
        rows, total = await api_keys.list(limit=page.limit, offset=page.offset)
        return ApiKeyPageOut(items=[ApiKeyOut.of(k) for k in rows], total=total, limit=page.limit, offset=page.offset)

    @get("/{key_id:uuid}", operation_id="GetApiKey", responses=problems(*OPERATOR_PROBLEMS, ApiKeyNotFound))
    async def get_api_key(self, key_id: FromPath[uuid.UUID], api_keys: NamedDependency[ApiKeyService]) -> ApiKeyOut:
        return ApiKeyOut.of(await api_keys.get(key_id))

    @delete(
        "/{key_id:uuid}",
        operation_id="RevokeApiKey",
        summary="Revoke a key: refused from the next request on (it stays listed)",
        responses=problems(*OPERATOR_PROBLEMS, ApiKeyNotFound),
    )
    async def revoke_api_key(self, key_id: FromPath[uuid.UUID], api_keys: NamedDependency[ApiKeyService]) -> None:
        await api_keys.revoke(key_id)


class StaffController(Controller):
    """The company's staff users and their roles."""

    path = "/users"
    tags = ("staff",)
    guards = [can_administer]  # noqa: RUF012 (read once by Litestar)
    dependencies = {"staff": Provide(provide_staff, sync_to_thread=False)}  # noqa: RUF012

    @post(
        "/",
        operation_id="CreateStaffUser",
        summary="Add a user to the company",
        responses=problems(*OPERATOR_PROBLEMS, *NEW_USER_PROBLEMS),
    )
    async def create_staff_user(self, data: JSONBody[StaffIn], staff: NamedDependency[StaffService]) -> StaffOut:
        return StaffOut.of(await staff.create(email=data.email, password=data.password, role=data.role))

    @get(
        "/",
        operation_id="ListStaffUsers",
        summary="The company's users by e-mail",
        responses=problems(*OPERATOR_PROBLEMS),
    )
    async def list_staff_users(
        self, page: NamedDependency[PageParams], staff: NamedDependency[StaffService]
    ) -> StaffPageOut:
        rows, total = await staff.list(limit=page.limit, offset=page.offset)
        return StaffPageOut(items=[StaffOut.of(u) for u in rows], total=total, limit=page.limit, offset=page.offset)

    @get("/{user_id:uuid}", operation_id="GetStaffUser", responses=problems(*OPERATOR_PROBLEMS, StaffNotFound))
    async def get_staff_user(self, user_id: FromPath[uuid.UUID], staff: NamedDependency[StaffService]) -> StaffOut:
        return StaffOut.of(await staff.get(user_id))

    @patch(
        "/{user_id:uuid}",
        operation_id="UpdateStaffUser",
        summary="Change a user's role or deactivate (signs out everywhere) / reactivate it",
        responses=problems(*OPERATOR_PROBLEMS, StaffNotFound, InvalidRole, LastAdmin),
    )
    async def update_staff_user(
        self, user_id: FromPath[uuid.UUID], data: JSONBody[StaffPatchIn], staff: NamedDependency[StaffService]
    ) -> StaffOut:
        return StaffOut.of(
            await staff.update(
                user_id,
                role=data.role if isinstance(data.role, str) else None,
                active=data.active if isinstance(data.active, bool) else None,
            )
        )


class AuditLogController(Controller):
    path = "/audit-log"
    tags = ("audit log",)
    guards = [can_administer]  # noqa: RUF012 (read once by Litestar)
    dependencies = {"audit_log": Provide(provide_audit_log, sync_to_thread=False)}  # noqa: RUF012

    @get(
        "/",
        operation_id="ListAuditEntries",
        summary="Every change and command of the company's users and keys, newest first",
        responses=problems(*OPERATOR_PROBLEMS),
    )
    async def list_audit_entries(
        self,
        page: NamedDependency[PageParams],
        audit_log: NamedDependency[AuditLog],
        action: Annotated[
            str | None,
            QueryParameter(
                max_length=100, pattern=r"^[A-Za-z0-9_.-]+$", description="Only this operation id, e.g. UpdateTariff"
            ),
        ] = None,
        actor_id: Annotated[
            uuid.UUID | None, QueryParameter(name="actorId", description="Only this user's or key's")
        ] = None,
        since: Annotated[
            datetime | None, QueryParameter(description="Only at or after this time (UTC when it has no offset)")
        ] = None,
    ) -> AuditPageOut:
        if since is not None:
            try:
                since = since.replace(tzinfo=UTC) if since.tzinfo is None else since.astimezone(UTC)
            except OverflowError:  # the first or last day of the calendar with an offset
                raise InvalidInput("since: out of range", field="since") from None
        rows, total = await audit_log.list(
            limit=page.limit, offset=page.offset, action=action, actor_id=actor_id, since=since
        )
        return AuditPageOut(
            items=[AuditEntryOut.of(e) for e in rows], total=total, limit=page.limit, offset=page.offset
        )


class TenantController(Controller):
    """Operator companies; mounted under /api/v1/platform, for platform admins only."""

    path = "/tenants"
    tags = ("platform",)
    dependencies = {"tenants": Provide(provide_tenants, sync_to_thread=False)}  # noqa: RUF012

    @post(
        "/",
        operation_id="CreateTenant",
        summary="Create an operator company with its first admin",
        responses=problems(*OPERATOR_PROBLEMS, TenantInvalid, PartyTaken, *NEW_USER_PROBLEMS),
    )
    async def create_tenant(self, data: JSONBody[TenantIn], tenants: NamedDependency[TenantService]) -> TenantOut:
        operator, admin = await tenants.create(
            name=data.name,
            country_code=data.country_code,
            party_id=data.party_id,
            admin_email=data.admin.email,
            admin_password=data.admin.password,
        )
        return TenantOut.of(operator, [admin])

    @get("/", operation_id="ListTenants", summary="Operator companies by party", responses=problems(*OPERATOR_PROBLEMS))
    async def list_tenants(
        self, page: NamedDependency[PageParams], tenants: NamedDependency[TenantService]
    ) -> TenantPageOut:
        rows, total = await tenants.list(limit=page.limit, offset=page.offset)
        items = [TenantOut.of(o, await tenants.admins(o.id)) for o in rows]
        return TenantPageOut(items=items, total=total, limit=page.limit, offset=page.offset)

    @get("/{operator_id:uuid}", operation_id="GetTenant", responses=problems(*OPERATOR_PROBLEMS, TenantNotFound))
    async def get_tenant(self, operator_id: FromPath[uuid.UUID], tenants: NamedDependency[TenantService]) -> TenantOut:
        operator = await tenants.get(operator_id)
        return TenantOut.of(operator, await tenants.admins(operator.id))
