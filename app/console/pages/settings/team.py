"""``/console/settings/users`` and ``/console/settings/api-keys``: the tenant's staff (add
with a role, change the role, deactivate, reactivate) and its API keys (create, showing the
key once; revoke). Admins only, as the operator API's StaffController and ApiKeyController."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath
from litestar.response import Redirect, Template

from app.console.pages.settings.forms import FormErrors, convert, form_of, problem, text
from app.console.render import render
from app.core.auth import TENANT_ROLES, Caller, can_administer
from app.core.errors import Conflict, InvalidInput
from app.operators.api_keys import ApiKeyService, grantable_roles
from app.operators.controllers import provide_api_keys, provide_staff
from app.operators.schemas import ApiKeyIn, StaffIn, StaffPatchIn
from app.operators.staff import StaffService

USERS = "/console/settings/users"
KEYS = "/console/settings/api-keys"
# The roles in the order a form offers them: most rights first.
ROLE_ORDER = ("admin", "operations", "finance", "read_only")
assert set(ROLE_ORDER) == TENANT_ROLES


class StaffPagesController(Controller):
    path = USERS
    guards = [can_administer]  # noqa: RUF012 (read once by Litestar)
    dependencies = {"staff": Provide(provide_staff, sync_to_thread=False)}  # noqa: RUF012

    async def _index(
        self,
        request: Request[Any, Any, Any],
        staff: StaffService,
        *,
        values: dict[str, str] | None = None,
        errors: FormErrors | None = None,
        status_code: int = 200,
    ) -> Template:
        users, total = await staff.list(limit=100, offset=0)
        return render(
            request,
            "console/settings/users.html",
            nav="settings",
            sub="users",
            users=users,
            total=total,
            roles=ROLE_ORDER,
            values=values or {"role": "read_only"},
            errors=errors or FormErrors(),
            notice=request.query_params.get("done"),
            status_code=status_code,
        )

    @get("/", name="console:users")
    async def index(self, request: Request[Any, Any, Any], staff: NamedDependency[StaffService]) -> Template:
        return await self._index(request, staff)

    @post("/", status_code=303, operation_id="CreateStaffUser")
    async def add(self, request: Request[Any, Any, Any], staff: NamedDependency[StaffService]) -> Redirect | Template:
        form = await form_of(request)
        values = {"email": text(form, "email"), "role": text(form, "role")}
        password = form.get("password") if isinstance(form.get("password"), str) else ""
        try:
            data = convert({**values, "password": password}, StaffIn)
            await staff.create(email=data.email, password=data.password, role=data.role)
        except (InvalidInput, Conflict) as exc:
            await staff.db.rollback()
            return await self._index(request, staff, values=values, errors=problem(exc), status_code=exc.status)
        return Redirect(f"{USERS}?done=user_added", status_code=303)

    @post("/{user_id:uuid}", status_code=303, operation_id="UpdateStaffUser")
    async def change(
        self, request: Request[Any, Any, Any], user_id: FromPath[uuid.UUID], staff: NamedDependency[StaffService]
    ) -> Redirect | Template:
        """One of: a new ``role``, or ``active`` true/false (deactivating signs the user out)."""
        form = await form_of(request)
        changes: dict[str, Any] = {}
        if text(form, "role"):
            changes["role"] = text(form, "role")
        if text(form, "active") in ("true", "false"):
            changes["active"] = text(form, "active") == "true"
        try:
            data = convert(changes, StaffPatchIn)
            await staff.update(
                user_id,
                role=data.role if isinstance(data.role, str) else None,
                active=data.active if isinstance(data.active, bool) else None,
            )
        except (InvalidInput, Conflict) as exc:
            return await self._index(request, staff, errors=problem(exc), status_code=exc.status)
        done = "role_changed" if "role" in changes else ("activated" if changes.get("active") else "deactivated")
        return Redirect(f"{USERS}?done={done}", status_code=303)


class ApiKeyPagesController(Controller):
    path = KEYS
    guards = [can_administer]  # noqa: RUF012 (read once by Litestar)
    dependencies = {"api_keys": Provide(provide_api_keys, sync_to_thread=False)}  # noqa: RUF012

    async def _index(
        self,
        request: Request[Any, Any, Any],
        api_keys: ApiKeyService,
        caller: Caller,
        *,
        values: dict[str, Any] | None = None,
        errors: FormErrors | None = None,
        status_code: int = 200,
    ) -> Template:
        keys, total = await api_keys.list(limit=100, offset=0)
        grantable = grantable_roles(caller)
        return render(
            request,
            "console/settings/api_keys.html",
            nav="settings",
            sub="api-keys",
            keys=keys,
            total=total,
            roles=[r for r in ROLE_ORDER if r in grantable],
            values=values or {"roles": []},
            errors=errors or FormErrors(),
            notice=request.query_params.get("done"),
            status_code=status_code,
        )

    @get("/", name="console:api-keys")
    async def index(
        self, request: Request[Any, Any, Any], api_keys: NamedDependency[ApiKeyService], caller: NamedDependency[Caller]
    ) -> Template:
        return await self._index(request, api_keys, caller)

    @post("/", status_code=201, operation_id="CreateApiKey")
    async def create(
        self, request: Request[Any, Any, Any], api_keys: NamedDependency[ApiKeyService], caller: NamedDependency[Caller]
    ) -> Template:
        """The new key in full: on this page only, never again."""
        form = await form_of(request)
        values = {"name": text(form, "name"), "roles": [r for r in form.getall("roles", []) if isinstance(r, str)]}
        try:
            data = convert(values, ApiKeyIn)
            key, secret = await api_keys.create(name=data.name, roles=data.roles, by=caller)
        except (InvalidInput, Conflict) as exc:
            return await self._index(
                request, api_keys, caller, values=values, errors=problem(exc), status_code=exc.status
            )
        return render(
            request,
            "console/settings/secret.html",
            nav="settings",
            sub="api-keys",
            status_code=201,
            kind="api_key",
            name=key.name,
            secret=secret,
            next_href=KEYS,
        )

    @post("/{key_id:uuid}/revoke", status_code=303, operation_id="RevokeApiKey")
    async def revoke(self, key_id: FromPath[uuid.UUID], api_keys: NamedDependency[ApiKeyService]) -> Redirect:
        await api_keys.revoke(key_id)
        return Redirect(f"{KEYS}?done=revoked", status_code=303)
