"""Roles, API keys, staff users, tenants and the audit log over the real app and database.

Two companies, X and Y, are created through the platform API. In X every company role has a
user and an API key; each calls one representative operation per guard class and gets 2xx
or 403 ``auth.forbidden`` as the role matrix says. Then: revoked keys, keys on the driver
API, the audit log's who-did-what, and Y's admin never seeing X's keys, users or entries.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.core.settings import Settings
from app.drivers.service import UserService
from app.main import create_app
from app.operators.api_keys import ApiKeyService, load_api_key
from app.operators.models import AuditEntry
from tests.e2e.test_api import bearer, problem, running

OPS = "/api/v1/operator"
PLATFORM = "/api/v1/platform"
PASSWORD = "a-long-staff-password"
ROLES = ("admin", "operations", "finance", "read_only")


@dataclass
class World:
    client: httpx.AsyncClient
    maker: Any
    platform: dict[str, str]
    driver: dict[str, str]
    tenants: dict[str, dict[str, Any]] = field(default_factory=dict)  # "x" | "y" -> TenantOut
    users: dict[str, dict[str, str]] = field(default_factory=dict)  # role -> headers, in X
    user_ids: dict[str, str] = field(default_factory=dict)  # role -> id, in X
    keys: dict[str, dict[str, str]] = field(default_factory=dict)  # role -> headers, in X
    key_ids: dict[str, str] = field(default_factory=dict)
    y_admin: dict[str, str] = field(default_factory=dict)

    async def login(self, email: str, password: str = PASSWORD) -> dict[str, str]:
        r = await self.client.post("/api/v1/auth/token", json={"email": email, "password": password})
        assert r.status_code == 200, r.text
        return bearer(r.json()["accessToken"])

    async def new_tenant(self, name: str, party: str, admin_email: str) -> dict[str, Any]:
        body = {
            "name": name,
            "countryCode": "SE",
            "partyId": party,
            "admin": {"email": admin_email, "password": PASSWORD},
        }
        r = await self.client.post(f"{PLATFORM}/tenants", json=body, headers=self.platform)
        assert r.status_code == 201, r.text
        out: dict[str, Any] = r.json()
        return out

    async def new_key(self, headers: dict[str, str], roles: list[str], name: str = "erp") -> dict[str, Any]:
        r = await self.client.post(f"{OPS}/api-keys", json={"name": name, "roles": roles}, headers=headers)
        assert r.status_code == 201, r.text
        out: dict[str, Any] = r.json()
        return out

    async def audit(self, headers: dict[str, str], **params: str) -> list[dict[str, Any]]:
        r = await self.client.get(f"{OPS}/audit-log", params={"limit": 500, **params}, headers=headers)
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["items"]
        return items


@pytest.fixture(scope="module")
async def world(settings: Settings) -> AsyncIterator[World]:
    app = create_app(settings)
    maker = app.state.sessionmaker
    async with maker() as db:
        users = UserService(db)
        await users.create_user("root@platform.test", PASSWORD, "platform_admin")
        await users.create_user("driver@roles.test", PASSWORD, "driver")
    transport = httpx.ASGITransport(app=app)
    async with running(app), httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        w = World(client, maker, {}, {})
        w.platform = await w.login("root@platform.test")
        w.driver = await w.login("driver@roles.test")
        w.tenants["x"] = await w.new_tenant("Company X", "XXA", "admin@x.test")
        w.tenants["y"] = await w.new_tenant("Company Y", "YYB", "admin@y.test")
        w.users["admin"] = await w.login("admin@x.test")
        w.y_admin = await w.login("admin@y.test")
        for role in ROLES:
            if role != "admin":
                r = await client.post(
                    f"{OPS}/users",
                    json={"email": f"{role}@x.test", "password": PASSWORD, "role": role},
                    headers=w.users["admin"],
                )
                assert r.status_code == 201, r.text
                assert (r.json()["role"], r.json()["active"]) == (role, True)
                w.users[role] = await w.login(f"{role}@x.test")
            created = await w.new_key(w.users["admin"], [role], name=f"{role} key")
            w.keys[role] = bearer(created["key"])
            w.key_ids[role] = created["apiKey"]["id"]
        staff = (await client.get(f"{OPS}/users", headers=w.users["admin"])).json()["items"]
        w.user_ids = {u["role"]: u["id"] for u in staff}
        yield w


# -- the role matrix -----------------------------------------------------------------------

# One representative operation per guard class, and the company roles it allows.
LOCATION = {"name": "Matrix site"}
TARIFF = {"name": "Matrix tariff", "currency": "SEK", "pricePerKwhMinor": 300, "vatRateBp": 2500}
GUARD_CLASSES: dict[str, tuple[str, str, dict[str, Any] | None, set[str]]] = {
    "read": ("GET", f"{OPS}/chargers", None, set(ROLES)),
    "operate": ("POST", f"{OPS}/locations", LOCATION, {"admin", "operations"}),
    "bill": ("POST", f"{OPS}/tariffs", TARIFF, {"admin", "finance"}),
    "administer": ("GET", f"{OPS}/api-keys", None, {"admin"}),
    "platform": ("GET", f"{PLATFORM}/tenants", None, set()),
}


@pytest.mark.parametrize("kind", ["user", "api_key"])
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("guard", list(GUARD_CLASSES))
async def test_role_matrix(world: World, guard: str, role: str, kind: str) -> None:
    method, path, body, allowed = GUARD_CLASSES[guard]
    headers = world.users[role] if kind == "user" else world.keys[role]
    r = await world.client.request(method, path, json=body, headers=headers)
    if role in allowed:
        assert r.status_code in (200, 201), r.text
    else:
        problem(r, 403, "auth.forbidden")


@pytest.mark.parametrize("guard", list(GUARD_CLASSES))
async def test_a_driver_is_refused_every_guard_class(world: World, guard: str) -> None:
    method, path, body, _ = GUARD_CLASSES[guard]
    problem(await world.client.request(method, path, json=body, headers=world.driver), 403, "auth.forbidden")


async def test_only_a_platform_admin_reaches_the_platform_api_and_not_the_operator_api(world: World) -> None:
    listed = await world.client.get(f"{PLATFORM}/tenants", headers=world.platform)
    assert listed.status_code == 200, listed.text
    parties = {(t["countryCode"], t["partyId"]): t for t in listed.json()["items"]}
    assert parties[("SE", "XXA")]["admins"] == ["admin@x.test"]
    one = await world.client.get(f"{PLATFORM}/tenants/{world.tenants['y']['id']}", headers=world.platform)
    assert one.json() == world.tenants["y"]
    problem(
        await world.client.get(f"{PLATFORM}/tenants/{uuid.uuid4()}", headers=world.platform), 404, "tenant.not_found"
    )
    # A platform admin belongs to no company: the operator API is not theirs.
    problem(await world.client.get(f"{OPS}/chargers", headers=world.platform), 403, "auth.forbidden")


# -- API keys ------------------------------------------------------------------------------


async def test_a_key_is_shown_once_stored_hashed_and_notes_its_use(world: World) -> None:
    created = await world.new_key(world.users["admin"], ["read_only"], name="reporting")
    key, out = created["key"], created["apiKey"]
    prefix, secret = key.removeprefix("lnk_").split("_", 1)
    assert key.startswith("lnk_") and prefix == out["prefix"] and len(secret) >= 40
    assert out["roles"] == ["read_only"] and out["lastUsedAt"] is None and out["revokedAt"] is None
    assert out["createdBy"] == world.user_ids["admin"]

    assert (await world.client.get(f"{OPS}/chargers", headers=bearer(key))).status_code == 200
    listed = await world.client.get(f"{OPS}/api-keys", params={"limit": 500}, headers=world.users["admin"])
    assert secret not in listed.text and key not in listed.text
    [row] = [k for k in listed.json()["items"] if k["id"] == out["id"]]
    assert row["lastUsedAt"] is not None

    # In the database: the prefix, and a hash that is not the secret.
    async with world.maker() as db:
        stored = await ApiKeyService(db, uuid.UUID(world.tenants["x"]["id"])).get(uuid.UUID(out["id"]))
    assert stored.prefix == prefix and secret not in stored.secret_hash and len(stored.secret_hash) == 64


async def test_last_use_is_written_at_most_once_a_minute(world: World) -> None:
    created = await world.new_key(world.users["admin"], ["read_only"], name="poller")
    key, key_id = created["key"], uuid.UUID(created["apiKey"]["id"])
    t0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    seen = []
    for offset_s in (0, 30, 59, 60, 61):
        async with world.maker() as db:
            caller = await load_api_key(db, key, clock=lambda o=offset_s: t0 + timedelta(seconds=o))
            assert caller is not None and caller.kind == "api_key" and caller.roles == {"read_only"}
            seen.append((await ApiKeyService(db, caller.tenant_id or uuid.uuid4()).get(key_id)).last_used_at)
    assert seen == [t0, t0, t0, t0 + timedelta(seconds=60), t0 + timedelta(seconds=60)]


async def test_a_revoked_key_is_refused_at_once(world: World) -> None:
    created = await world.new_key(world.users["admin"], ["operations"], name="to revoke")
    headers = bearer(created["key"])
    assert (await world.client.get(f"{OPS}/chargers", headers=headers)).status_code == 200
    r = await world.client.delete(f"{OPS}/api-keys/{created['apiKey']['id']}", headers=world.users["admin"])
    assert r.status_code == 204, r.text
    problem(await world.client.get(f"{OPS}/chargers", headers=headers), 401, "auth.invalid_token")
    shown = (await world.client.get(f"{OPS}/api-keys/{created['apiKey']['id']}", headers=world.users["admin"])).json()
    assert shown["revokedAt"] is not None
    # A key with a right prefix but a wrong secret is refused the same way.
    forged = f"lnk_{created['apiKey']['prefix']}_{'x' * 43}"
    problem(await world.client.get(f"{OPS}/chargers", headers=bearer(forged)), 401, "auth.invalid_token")


async def test_a_key_never_reaches_the_driver_api(world: World) -> None:
    problem(await world.client.get("/api/v1/me", headers=world.keys["admin"]), 403, "auth.forbidden")


@pytest.mark.parametrize("roles", [["platform_admin"], ["driver"], ["admin", "driver"], ["owner"], []])
async def test_a_key_takes_company_roles_only(world: World, roles: list[str]) -> None:
    r = await world.client.post(f"{OPS}/api-keys", json={"name": "bad", "roles": roles}, headers=world.users["admin"])
    assert r.status_code == 422, r.text
    assert r.json()["code"] in ("api_key.invalid_roles", "request.invalid")


async def test_a_key_name_is_bounded(world: World) -> None:
    for name, code in (("k" * 101, "request.invalid"), ("   ", "api_key.invalid"), ("a\x00b", "request.invalid")):
        r = await world.client.post(
            f"{OPS}/api-keys", json={"name": name, "roles": ["read_only"]}, headers=world.users["admin"]
        )
        problem(r, 422, code)


async def test_stored_text_has_no_control_characters(world: World) -> None:
    r = await world.client.post(
        f"{OPS}/users",
        json={"email": "nul\x00@x.test", "password": PASSWORD, "role": "read_only"},
        headers=world.users["admin"],
    )
    problem(r, 422, "request.invalid")
    r = await world.client.post(
        f"{PLATFORM}/tenants",
        json={
            "name": "Bad\x00Name",
            "countryCode": "SE",
            "partyId": "NUL",
            "admin": {"email": "n@z.test", "password": PASSWORD},
        },
        headers=world.platform,
    )
    problem(r, 422, "request.invalid")


# -- staff users ---------------------------------------------------------------------------


async def test_the_last_active_admin_stays(world: World) -> None:
    admin_id = world.user_ids["admin"]
    for change in ({"role": "read_only"}, {"active": False}):
        r = await world.client.patch(f"{OPS}/users/{admin_id}", json=change, headers=world.users["admin"])
        problem(r, 409, "staff.last_admin")
    r = await world.client.get(f"{OPS}/users/{admin_id}", headers=world.users["admin"])
    assert (r.json()["role"], r.json()["active"]) == ("admin", True)


async def test_two_admins_demoting_each_other_at_once_leave_one(world: World) -> None:
    await world.new_tenant("Company V", "VVD", "first@v.test")
    first = await world.login("first@v.test")
    r = await world.client.post(
        f"{OPS}/users", json={"email": "second@v.test", "password": PASSWORD, "role": "admin"}, headers=first
    )
    assert r.status_code == 201, r.text
    second = await world.login("second@v.test")
    ids = {u["email"]: u["id"] for u in (await world.client.get(f"{OPS}/users", headers=first)).json()["items"]}

    answers = await asyncio.gather(
        world.client.patch(f"{OPS}/users/{ids['second@v.test']}", json={"role": "read_only"}, headers=first),
        world.client.patch(f"{OPS}/users/{ids['first@v.test']}", json={"active": False}, headers=second),
    )
    # One wins; the other is refused, as the last admin's change (409) or, when it started
    # after the first was done, as a caller who is no longer an admin (403 or 401).
    assert sorted(a.status_code for a in answers)[0] == 200 and [a.status_code for a in answers].count(200) == 1
    survivor = first if answers[0].status_code == 200 else second
    staff = (await world.client.get(f"{OPS}/users", headers=survivor)).json()["items"]
    assert [u["email"] for u in staff if u["role"] == "admin" and u["active"]] != []
    assert len([u for u in staff if u["role"] == "admin" and u["active"]]) == 1


async def test_a_role_change_applies_and_deactivation_stops_tokens(world: World) -> None:
    r = await world.client.post(
        f"{OPS}/users",
        json={"email": "temp@x.test", "password": PASSWORD, "role": "read_only"},
        headers=world.users["admin"],
    )
    assert r.status_code == 201, r.text
    temp_id = r.json()["id"]
    temp = await world.login("temp@x.test")
    problem(await world.client.post(f"{OPS}/locations", json=LOCATION, headers=temp), 403, "auth.forbidden")

    r = await world.client.patch(f"{OPS}/users/{temp_id}", json={"role": "operations"}, headers=world.users["admin"])
    assert r.status_code == 200 and r.json()["role"] == "operations", r.text
    assert (await world.client.post(f"{OPS}/locations", json=LOCATION, headers=temp)).status_code == 201

    r = await world.client.patch(f"{OPS}/users/{temp_id}", json={"active": False}, headers=world.users["admin"])
    assert r.status_code == 200 and r.json()["active"] is False, r.text
    assert (await world.client.get(f"{OPS}/chargers", headers=temp)).status_code == 401
    # Reactivated, the old token stays dead (its version was bumped); a new sign-in works.
    r = await world.client.patch(f"{OPS}/users/{temp_id}", json={"active": True}, headers=world.users["admin"])
    assert r.status_code == 200, r.text
    problem(await world.client.get(f"{OPS}/chargers", headers=temp), 401, "auth.token_revoked")
    assert (await world.client.get(f"{OPS}/chargers", headers=await world.login("temp@x.test"))).status_code == 200


async def test_a_staff_user_gets_a_company_role_only(world: World) -> None:
    for role in ("platform_admin", "driver"):
        r = await world.client.post(
            f"{OPS}/users",
            json={"email": f"bad-{role}@x.test", "password": PASSWORD, "role": role},
            headers=world.users["admin"],
        )
        problem(r, 422, "user.invalid_role")


# -- tenants -------------------------------------------------------------------------------


async def test_a_party_is_one_company_and_formats_are_checked(world: World) -> None:
    def body(**changes: Any) -> dict[str, Any]:
        return {
            "name": "Another",
            "countryCode": "SE",
            "partyId": "ZZZ",
            "admin": {"email": f"{uuid.uuid4().hex[:8]}@z.test", "password": PASSWORD},
        } | changes

    r = await world.client.post(f"{PLATFORM}/tenants", json=body(partyId="XXA"), headers=world.platform)
    problem(r, 409, "tenant.party_taken", "partyId")
    for changes, culprit in (
        ({"countryCode": "se"}, "countryCode"),
        ({"countryCode": "S1"}, "countryCode"),
        ({"partyId": "ab1"}, "partyId"),
        ({"partyId": "A_B"}, "partyId"),
        ({"name": "   "}, "name"),
    ):
        problem(
            await world.client.post(f"{PLATFORM}/tenants", json=body(**changes), headers=world.platform),
            422,
            "tenant.invalid",
            culprit,
        )
    # A refused admin leaves no company behind.
    before = (await world.client.get(f"{PLATFORM}/tenants", headers=world.platform)).json()["total"]
    r = await world.client.post(
        f"{PLATFORM}/tenants", json=body(admin={"email": "admin@x.test", "password": PASSWORD}), headers=world.platform
    )
    problem(r, 409, "user.already_exists")
    r = await world.client.post(
        f"{PLATFORM}/tenants", json=body(admin={"email": "weak@z.test", "password": "short"}), headers=world.platform
    )
    problem(r, 422, "user.weak_password")
    assert (await world.client.get(f"{PLATFORM}/tenants", headers=world.platform)).json()["total"] == before


# -- the audit log -------------------------------------------------------------------------


async def test_the_audit_log_names_who_made_each_change(world: World) -> None:
    r = await world.client.post(f"{OPS}/locations", json={"name": "Audited site"}, headers=world.users["operations"])
    assert r.status_code == 201, r.text
    r = await world.client.post(f"{OPS}/tariffs", json=TARIFF, headers=world.keys["finance"])
    assert r.status_code == 201, r.text
    refused = await world.client.post(f"{OPS}/locations", json=LOCATION, headers=world.users["read_only"])
    problem(refused, 403, "auth.forbidden")
    key = await world.new_key(world.users["admin"], ["read_only"], name="audited key")
    revoked = await world.client.delete(f"{OPS}/api-keys/{key['apiKey']['id']}", headers=world.keys["admin"])
    assert revoked.status_code == 204, revoked.text

    entries = await world.audit(world.users["admin"])
    by_action: dict[str, list[dict[str, Any]]] = {}
    for e in entries:
        by_action.setdefault(e["action"], []).append(e)
    # Newest first: the first match is the change just made (the matrix made others).
    location = next(e for e in by_action["CreateLocation"] if e["actorName"] == "operations@x.test")
    assert (location["actorType"], location["actorId"], location["method"], location["statusCode"]) == (
        "user",
        world.user_ids["operations"],
        "POST",
        201,
    )
    assert location["path"] == f"{OPS}/locations"
    tariff = next(e for e in by_action["CreateTariff"] if e["actorId"] == world.key_ids["finance"])
    assert (tariff["actorType"], tariff["actorName"]) == ("api_key", "finance key")
    [revoke] = [e for e in by_action["RevokeApiKey"] if e["details"].get("key_id") == key["apiKey"]["id"]]
    assert (revoke["actorType"], revoke["actorName"], revoke["statusCode"]) == ("api_key", "admin key", 204)
    # A refused attempt and a read change nothing: not in the log.
    assert not [e for e in entries if e["actorName"] == "read_only@x.test"]
    assert "ListApiKeys" not in by_action
    # Keys and passwords never land in it (the set-up created users with passwords and keys).
    assert PASSWORD not in str(entries) and key["key"] not in str(entries)
    assert {e["actorName"] for e in by_action["CreateStaffUser"]} == {"admin@x.test"}

    newest_first = [e["at"] for e in entries]
    assert newest_first == sorted(newest_first, reverse=True)
    only = await world.audit(world.users["admin"], action="CreateTariff", actorId=world.key_ids["finance"])
    assert only[0]["id"] == tariff["id"]
    assert {(e["action"], e["actorId"]) for e in only} == {("CreateTariff", world.key_ids["finance"])}
    assert await world.audit(world.users["admin"], since="2100-01-01T00:00:00Z") == []
    # Without an offset a time is UTC (not a 500 for a naive time).
    assert await world.audit(world.users["admin"], since="2100-01-01T00:00:00") == []
    assert len(await world.audit(world.users["admin"], since="2000-01-01T00:00:00")) == len(entries)
    for bad in ({"since": "0001-01-01T00:00:00+01:00"}, {"action": "Create\x00Tariff"}):
        r = await world.client.get(f"{OPS}/audit-log", params=bad, headers=world.users["admin"])
        problem(r, 422, "request.invalid")
    problem(await world.client.get(f"{OPS}/audit-log", headers=world.users["operations"]), 403, "auth.forbidden")


async def test_a_platform_change_is_audited_too(world: World) -> None:
    created = await world.new_tenant("Company W", "WWC", "admin@w.test")
    w_admin = await world.login("admin@w.test")
    # The new company's log has nothing of X's; the platform admin's entry has no company.
    assert await world.audit(w_admin) == []
    async with world.maker() as db:
        [entry] = await db.scalars(
            select(AuditEntry).where(AuditEntry.action == "CreateTenant").order_by(AuditEntry.at.desc()).limit(1)
        )
    assert (entry.actor_name, entry.operator_id, entry.status_code) == ("root@platform.test", None, 201)
    assert created["admins"] == ["admin@w.test"]


# -- isolation between companies -----------------------------------------------------------


async def test_one_company_never_sees_anothers_keys_users_or_audit_entries(world: World) -> None:
    y = world.y_admin
    y_key = await world.new_key(y, ["read_only"], name="y key")
    x_key_id, x_user_id = world.key_ids["operations"], world.user_ids["operations"]

    keys = (await world.client.get(f"{OPS}/api-keys", params={"limit": 500}, headers=y)).json()["items"]
    assert {k["id"] for k in keys} == {y_key["apiKey"]["id"]}
    users = (await world.client.get(f"{OPS}/users", params={"limit": 500}, headers=y)).json()["items"]
    assert [u["email"] for u in users] == ["admin@y.test"]
    problem(await world.client.get(f"{OPS}/api-keys/{x_key_id}", headers=y), 404, "api_key.not_found")
    problem(await world.client.delete(f"{OPS}/api-keys/{x_key_id}", headers=y), 404, "api_key.not_found")
    problem(await world.client.get(f"{OPS}/users/{x_user_id}", headers=y), 404, "staff.not_found")
    problem(
        await world.client.patch(f"{OPS}/users/{x_user_id}", json={"active": False}, headers=y), 404, "staff.not_found"
    )
    # X's key still works, X's user is still active.
    assert (await world.client.get(f"{OPS}/chargers", headers=world.keys["operations"])).status_code == 200
    shown = (await world.client.get(f"{OPS}/users/{x_user_id}", headers=world.users["admin"])).json()
    assert shown["active"] is True

    y_entries = await world.audit(y)
    assert y_entries and {e["actorName"] for e in y_entries} == {"admin@y.test"}
    x_entries = await world.audit(world.users["admin"])
    assert not {e["id"] for e in x_entries} & {e["id"] for e in y_entries}
