"""The credentials handshake both ways against devtools' fake eMSP over real HTTP: our API
listens on a real port (the partner calls back our versions URL while we call its), and the
partner is an independent OCPI party with its own state.

Two tenants share the database: X (SE*XOC) and Y (SE*YOC); a partner of X never reaches Y.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import re
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select

from app.core.database import create_engine, create_sessionmaker
from app.core.security import digest_secret
from app.core.settings import DatabaseSettings, HttpSettings, OcpiSettings, Settings
from app.main import create_app
from app.operators.tenants import TenantService
from app.roaming.client import PartnerCallFailed, PartnerClient, Party, endpoint_url
from app.roaming.models import OcpiPartner, OcpiPush
from app.roaming.paths import MODULES
from app.roaming.push import enqueue
from app.runner import _EmbeddedServer
from devtools.fakes.ocpi import EmspConfig, EmspParty, RegistrationRefused, emsp_party
from devtools.fakes.ocpi.wire import token_header
from tests.e2e.test_api import bearer, problem
from tests.e2e.test_cli import clean_env, laddnat
from tests.support import DatabaseFactory, create_staff

pytestmark = pytest.mark.one_database

PASSWORD = "roaming-password-01"
OPS = "/api/v1/operator/roaming/partners"


@dataclass
class Cpo:
    base_url: str
    client: httpx.AsyncClient
    app: Any
    maker: Any
    settings: Settings
    tenant_ids: dict[str, uuid.UUID]
    headers: dict[str, dict[str, str]]  # "x" | "y" | "x_reader"

    @property
    def versions_url(self) -> str:
        return f"{self.base_url}/ocpi/versions"

    async def issue(self, who: str = "x", name: str | None = None) -> str:
        r = await self.client.post(f"{OPS}/tokens", json={"name": name} if name else {}, headers=self.headers[who])
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["versionsUrl"] == self.versions_url
        assert body["partner"]["state"] == "pending"
        token: str = body["token"]
        return token

    async def ocpi(self, method: str, path: str, token: str | None, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": token_header(token)} if token is not None else {}
        return await self.client.request(method, f"{self.base_url}/ocpi{path}", headers=headers, **kwargs)

    async def partner(self, **where: Any) -> OcpiPartner:
        async with self.maker() as db:
            query = select(OcpiPartner)
            for column, value in where.items():
                query = query.where(getattr(OcpiPartner, column) == value)
            found = list(await db.scalars(query))
        assert len(found) == 1, found
        return found[0]


def free_socket() -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    return listener


@pytest.fixture(scope="module")
async def cpo(settings: Settings) -> AsyncIterator[Cpo]:
    listener = free_socket()
    base_url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    settings = dataclasses.replace(
        settings,
        http=HttpSettings(public_base_url=base_url),
        ocpi=OcpiSettings(allow_private_partners=True, partner_timeout_s=5.0),
    )
    app = create_app(settings)
    maker = app.state.sessionmaker
    tenant_ids: dict[str, uuid.UUID] = {}
    async with maker() as db:
        tenants = TenantService(db)
        for who, party in (("x", "XOC"), ("y", "YOC")):
            operator, _ = await tenants.create(
                name=f"{who.upper()} Charging AB",
                country_code="SE",
                party_id=party,
                admin_email=f"admin@{who}.roaming.test",
                admin_password=PASSWORD,
            )
            tenant_ids[who] = operator.id
        await create_staff(db, "reader@x.roaming.test", PASSWORD, "read_only", operator_id=tenant_ids["x"])
    server = _EmbeddedServer(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on"))
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    while not server.started:
        assert not serving.done()
        await asyncio.sleep(0.01)
    async with httpx.AsyncClient(base_url=base_url, timeout=20) as client:
        headers = {}
        for who, email in (
            ("x", "admin@x.roaming.test"),
            ("y", "admin@y.roaming.test"),
            ("x_reader", "reader@x.roaming.test"),
        ):
            r = await client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
            assert r.status_code == 200, r.text
            headers[who] = bearer(r.json()["accessToken"])
        try:
            yield Cpo(base_url, client, app, maker, settings, tenant_ids, headers)
        finally:
            server.should_exit = True
            await serving
            listener.close()


def party_config(party_id: str, **kw: Any) -> EmspConfig:
    return EmspConfig(party_id=party_id, name=f"eMSP {party_id}", **kw)


def status_of(r: httpx.Response) -> tuple[int, int]:
    return r.status_code, r.json()["status_code"]


# -- versions ------------------------------------------------------------------------------


async def test_versions_and_details_answer_token_a_with_our_public_urls(cpo: Cpo) -> None:
    token_a = await cpo.issue()
    r = await cpo.ocpi("GET", "/versions", token_a)
    assert status_of(r) == (200, 1000)
    assert r.json()["data"] == [{"version": "2.2.1", "url": f"{cpo.base_url}/ocpi/2.2.1"}]
    r = await cpo.ocpi("GET", "/2.2.1", token_a)
    assert status_of(r) == (200, 1000)
    details = r.json()["data"]
    assert details["version"] == "2.2.1"
    assert {(e["identifier"], e["role"]) for e in details["endpoints"]} == set(MODULES)
    assert all(e["url"] == f"{cpo.base_url}/ocpi/2.2.1/{e['identifier']}" for e in details["endpoints"])
    # 2.1.1-style partners send the token as it is: accepted too.
    r = await cpo.client.get("/ocpi/versions", headers={"Authorization": f"Token {token_a}"})
    assert status_of(r) == (200, 1000)


@pytest.mark.parametrize(
    "header", [None, "Token", "Token bm90LWEtdG9rZW4=", "Bearer whatever", "Token not-a-token-we-issued"]
)
async def test_unknown_or_missing_tokens_are_401_in_the_envelope(cpo: Cpo, header: str | None) -> None:
    for path in ("/ocpi/versions", "/ocpi/2.2.1", "/ocpi/2.2.1/credentials"):
        r = await cpo.client.get(path, headers={"Authorization": header} if header else {})
        assert r.status_code == 401, (path, r.text)
        assert r.json()["status_code"] == 2000
        assert r.json()["data"] is None


async def test_token_a_reaches_no_other_module(cpo: Cpo) -> None:
    # Every GET of every other module this build has, path parameters filled with anything.
    urls = sorted(
        re.sub(r"\{[^}]*\}", "X", route.path)
        for route in cpo.app.routes
        if route.path.startswith("/ocpi/2.2.1/")
        and not route.path.startswith("/ocpi/2.2.1/credentials")
        and "GET" in getattr(route, "methods", ())
    )
    assert urls, "no OCPI module but credentials in this build"
    token_a = await cpo.issue()
    for url in urls:
        r = await cpo.client.get(url, headers={"Authorization": token_header(token_a)})
        assert r.status_code == 401 and r.json()["status_code"] == 2000, (url, r.status_code, r.text)


# -- a partner registers with us -------------------------------------------------------------


async def test_an_emsp_registers_with_token_a_and_then_calls_with_token_c(cpo: Cpo) -> None:
    token_a = await cpo.issue(name="Partner by token")
    async with emsp_party(party_config("RGA")) as party:
        peer = await party.register_with(cpo.versions_url, token_a)
        token_b, token_c = peer.token_in, peer.token_out
        assert peer.roles == [
            {
                "role": "CPO",
                "party_id": "XOC",
                "country_code": "SE",
                "business_details": {"name": "X Charging AB"},
            }
        ]
        # We read the partner's versions and details with its token B, base64-encoded.
        ours = [c for c in party.calls if c.method == "GET"]
        assert [c.path for c in ours] == ["/ocpi/emsp/versions", "/ocpi/emsp/2.2.1"]
        assert all(c.headers["authorization"] == token_header(token_b) for c in ours)
        assert all(c.headers["ocpi-from-party-id"] == "XOC" for c in ours)

        partner = await cpo.partner(party_id="RGA")
        assert (partner.state, partner.country_code, partner.name) == ("registered", "NL", "Partner by token")
        assert partner.token_digest == digest_secret(token_c)
        assert partner.their_token == token_b
        assert {e["identifier"] for e in partner.endpoints} >= {"credentials", "locations", "tokens"}

        # Token A is spent; token C is the partner's now.
        for path in ("/versions", "/2.2.1", "/2.2.1/credentials"):
            assert (await cpo.ocpi("GET", path, token_a)).status_code == 401
        r = await cpo.ocpi("GET", "/2.2.1/credentials", token_c)
        assert status_of(r) == (200, 1000)
        assert r.json()["data"]["token"] == token_c
        assert r.json()["data"]["url"] == cpo.versions_url
        # Registered: POST again is 405 (the spec's answer), and nothing changes.
        r = await cpo.ocpi("POST", "/2.2.1/credentials", token_c, json=party.own_credentials("another-b"))
        assert r.status_code == 405
        assert (await cpo.partner(party_id="RGA")).their_token == token_b

        # The operator sees the partner, never its tokens.
        r = await cpo.client.get(f"{OPS}/{partner.id}", headers=cpo.headers["x"])
        assert r.status_code == 200, r.text
        assert (r.json()["state"], r.json()["partyId"]) == ("registered", "RGA")
        assert r.json()["roles"] == [
            {"role": "EMSP", "countryCode": "NL", "partyId": "RGA", "businessName": "eMSP RGA"}
        ]
        listed = await cpo.client.get(OPS, headers=cpo.headers["x"])
        for text in (r.text, listed.text):
            assert token_a not in text and token_b not in text and token_c not in text


async def test_an_emsp_updates_then_unregisters(cpo: Cpo) -> None:
    async with emsp_party(party_config("UPD")) as party:
        first = await party.register_with(cpo.versions_url, await cpo.issue())
        updated = await party.update()
        assert updated.token_out != first.token_out and updated.token_in != first.token_in
        assert (await cpo.ocpi("GET", "/versions", first.token_out)).status_code == 401
        assert status_of(await cpo.ocpi("GET", "/versions", updated.token_out)) == (200, 1000)
        partner = await cpo.partner(party_id="UPD")
        assert partner.their_token == updated.token_in
        assert partner.token_digest == digest_secret(updated.token_out)

        await party.unregister()
        partner = await cpo.partner(party_id="UPD")
        assert (partner.state, partner.their_token) == ("unregistered", None)
        assert (await cpo.ocpi("GET", "/versions", updated.token_out)).status_code == 401
        assert (await cpo.ocpi("DELETE", "/2.2.1/credentials", updated.token_out)).status_code == 401


async def test_put_and_delete_before_registering_are_405(cpo: Cpo) -> None:
    token_a = await cpo.issue()
    async with emsp_party(party_config("EAR")) as party:
        r = await cpo.ocpi("PUT", "/2.2.1/credentials", token_a, json=party.own_credentials("b-token"))
        assert status_of(r)[0] == 405
        r = await cpo.ocpi("DELETE", "/2.2.1/credentials", token_a)
        assert status_of(r)[0] == 405
        r = await cpo.ocpi("GET", "/2.2.1/credentials", token_a)
        assert r.json()["data"]["token"] == token_a
        assert not party.calls
    # Token A is still good for registering.
    assert status_of(await cpo.ocpi("GET", "/versions", token_a)) == (200, 1000)


def credentials(**changes: Any) -> dict[str, Any]:
    role = {"role": "EMSP", "party_id": "BAD", "country_code": "NL", "business_details": {"name": "Bad eMSP"}}
    body: dict[str, Any] = {"token": "token-b-0123", "url": "http://127.0.0.1:9/versions", "roles": [role]}
    for key, value in changes.items():
        if key.startswith("role_"):
            role[key[5:]] = value
        else:
            body[key] = value
    return body


@pytest.mark.parametrize(
    "body",
    [
        credentials(role_party_id="TOOLONG"),
        credentials(role_party_id="A!C"),
        credentials(role_country_code="NLD"),
        credentials(role_business_details={"website": "https://bad.example"}),
        credentials(role_business_details={"name": ""}),
        credentials(role_role="BOSS"),
        credentials(roles=[]),
        credentials(token="x" * 65),
        credentials(token="has space"),
        credentials(url="ftp://bad.example/versions"),
        credentials(roles=[credentials()["roles"][0]] * 2),
        [],
    ],
)
async def test_invalid_credentials_are_2001_and_change_nothing(cpo: Cpo, body: Any) -> None:
    token_a = await cpo.issue()
    r = await cpo.ocpi("POST", "/2.2.1/credentials", token_a, json=body)
    assert status_of(r) == (400, 2001), r.text
    r = await cpo.client.post(
        f"{cpo.base_url}/ocpi/2.2.1/credentials",
        content=b"{not json",
        headers={"Authorization": token_header(token_a), "Content-Type": "application/json"},
    )
    assert status_of(r) == (400, 2001), r.text
    assert (await cpo.partner(token_digest=digest_secret(token_a))).state == "pending"


async def test_a_partner_offering_no_2_2_1_is_3002(cpo: Cpo) -> None:
    token_a = await cpo.issue()
    async with emsp_party(party_config("OLD", versions=("2.1.1",))) as party:
        with pytest.raises(RegistrationRefused) as refused:
            await party.register_with(cpo.versions_url, token_a)
        assert refused.value.status_code == 3002
        # And the other way: nothing is created.
        r = await cpo.client.post(
            f"{OPS}/registrations",
            json={"versionsUrl": party.versions_url, "token": party.issue_token()},
            headers=cpo.headers["x"],
        )
        problem(r, 422, "roaming.no_mutual_version")
        assert not [c for c in party.calls if c.method == "POST"]
    assert (await cpo.partner(token_digest=digest_secret(token_a))).state == "pending"


async def test_a_partner_without_credentials_endpoint_is_3003(cpo: Cpo) -> None:
    token_a = await cpo.issue()
    modules = (("locations", "RECEIVER"), ("tokens", "SENDER"))
    async with emsp_party(party_config("NOC", modules=modules)) as party:
        # Its details lack credentials: it cannot even POST; we answer a direct POST 3003.
        r = await cpo.ocpi("POST", "/2.2.1/credentials", token_a, json=_creds(party, "NOC"))
        assert status_of(r) == (400, 3003), r.text
        r = await cpo.client.post(
            f"{OPS}/registrations",
            json={"versionsUrl": party.versions_url, "token": party.issue_token()},
            headers=cpo.headers["x"],
        )
        problem(r, 422, "roaming.missing_endpoints")
    assert (await cpo.partner(token_digest=digest_secret(token_a))).state == "pending"


def _creds(party: EmspParty, party_id: str) -> dict[str, Any]:
    """A partner's credentials with a token B its server accepts (for calls made by hand)."""
    token_b = party.issue_token()  # the fake accepts its own token A on versions, like a B
    body = party.own_credentials(token_b)
    body["roles"][0]["party_id"] = party_id
    return body


async def test_an_unreachable_partner_is_3001(cpo: Cpo) -> None:
    token_a = await cpo.issue()
    with free_socket() as closed:
        dead = f"http://127.0.0.1:{closed.getsockname()[1]}/ocpi/versions"  # bound, never listening
        r = await cpo.ocpi("POST", "/2.2.1/credentials", token_a, json=credentials(url=dead))
        assert status_of(r) == (400, 3001), r.text
        r = await cpo.client.post(
            f"{OPS}/registrations", json={"versionsUrl": dead, "token": "their-token-a"}, headers=cpo.headers["x"]
        )
        problem(r, 502, "roaming.partner_unusable")
    assert (await cpo.partner(token_digest=digest_secret(token_a))).state == "pending"


async def test_a_party_registers_once_per_tenant(cpo: Cpo) -> None:
    async with emsp_party(party_config("TWO")) as first, emsp_party(party_config("TWO")) as again:
        await first.register_with(cpo.versions_url, await cpo.issue())
        token_a = await cpo.issue()
        with pytest.raises(RegistrationRefused) as refused:
            await again.register_with(cpo.versions_url, token_a)
        assert (refused.value.http_status, refused.value.status_code) == (400, 2001)
        assert (await cpo.partner(token_digest=digest_secret(token_a))).state == "pending"
        # We registering with it from our side: refused too, and the partner told so.
        r = await cpo.client.post(
            f"{OPS}/registrations",
            json={"versionsUrl": again.versions_url, "token": again.issue_token()},
            headers=cpo.headers["x"],
        )
        problem(r, 409, "roaming.party_already_registered")
        assert [c.method for c in again.calls if c.path.endswith("/credentials")] == ["POST", "DELETE"]
        # Another tenant may have the same party as its partner.
        await again.register_with(cpo.versions_url, await cpo.issue("y"))
    async with cpo.maker() as db:
        registered = await db.scalar(
            select(func.count())
            .select_from(OcpiPartner)
            .where(OcpiPartner.party_id == "TWO", OcpiPartner.state == "registered")
        )
    assert registered == 2


# -- we register with a partner -----------------------------------------------------------------


async def test_we_register_with_an_emsp_update_and_unregister(cpo: Cpo) -> None:
    async with emsp_party(party_config("OUT")) as party:
        token_a = party.issue_token()
        r = await cpo.client.post(
            f"{OPS}/registrations", json={"versionsUrl": party.versions_url, "token": token_a}, headers=cpo.headers["x"]
        )
        assert r.status_code == 201, r.text
        out = r.json()
        assert (out["state"], out["countryCode"], out["partyId"], out["name"]) == (
            "registered",
            "NL",
            "OUT",
            "eMSP OUT",
        )
        peer = party.peer
        token_b, token_c = peer.token_out, peer.token_in  # it calls us with B; we call it with C
        assert party.tokens_a == set()  # its token A is spent
        assert peer.roles[0]["party_id"] == "XOC"
        # Our calls: versions and details, then the POST, all with its token A base64-encoded.
        assert [(c.method, c.path) for c in party.calls if c.headers.get("authorization") == token_header(token_a)] == [
            ("GET", "/ocpi/emsp/versions"),
            ("GET", "/ocpi/emsp/2.2.1"),
            ("POST", "/ocpi/emsp/2.2.1/credentials"),
        ]
        partner = await cpo.partner(party_id="OUT")
        assert partner.their_token == token_c and partner.token_digest == digest_secret(token_b)
        status, body = await party.call(peer, "GET", peer.url("credentials"))
        assert (status, body["status_code"], body["data"]["token"]) == (200, 1000, token_b)

        # Update from our side: a new token B, its endpoints read again, its new C kept.
        calls_before = len(party.calls)
        r = await cpo.client.put(f"{OPS}/{partner.id}/registration", headers=cpo.headers["x"])
        assert r.status_code == 200, r.text
        new_peer = party.peer
        assert new_peer.token_out != token_b and new_peer.token_in != token_c
        assert [c.method for c in party.calls[calls_before:]] == ["GET", "GET", "PUT"]
        assert (await cpo.ocpi("GET", "/versions", token_b)).status_code == 401
        assert status_of(await cpo.ocpi("GET", "/versions", new_peer.token_out)) == (200, 1000)
        put = next(c for c in party.calls if c.method == "PUT")
        assert put.headers["authorization"] == token_header(token_c)
        assert (await cpo.partner(party_id="OUT")).their_token == new_peer.token_in

        # Unregister from our side: the partner is told with its token, ours stops working.
        r = await cpo.client.delete(f"{OPS}/{partner.id}", headers=cpo.headers["x"])
        assert r.status_code == 204, r.text
        delete = next(c for c in party.calls if c.method == "DELETE")
        assert delete.headers["authorization"] == token_header(new_peer.token_in)
        assert all(p.state == "unregistered" for p in party.peers.values())
        assert (await cpo.ocpi("GET", "/versions", new_peer.token_out)).status_code == 401
        r = await cpo.client.get(f"{OPS}/{partner.id}", headers=cpo.headers["x"])
        assert r.json()["state"] == "unregistered"
        # Once more changes nothing.
        assert (await cpo.client.delete(f"{OPS}/{partner.id}", headers=cpo.headers["x"])).status_code == 204
        problem(
            await cpo.client.put(f"{OPS}/{partner.id}/registration", headers=cpo.headers["x"]),
            409,
            "roaming.partner_not_registered",
        )


async def test_a_refused_registration_leaves_no_partner(cpo: Cpo) -> None:
    async with emsp_party(party_config("REF")) as party:
        r = await cpo.client.post(
            f"{OPS}/registrations",
            json={"versionsUrl": party.versions_url, "token": "not-its-token"},
            headers=cpo.headers["x"],
        )
        body = problem(r, 502, "roaming.partner_unusable")
        assert "401" in body["detail"]
    async with cpo.maker() as db:
        assert (
            await db.scalar(
                select(func.count()).select_from(OcpiPartner).where(OcpiPartner.versions_url == party.versions_url)
            )
            == 0
        )


@pytest.mark.parametrize(
    "body",
    [
        {"versionsUrl": "ftp://x.example/versions", "token": "t"},
        {"versionsUrl": "http://x.example/versions", "token": ""},
        {"versionsUrl": "http://x.example/versions", "token": "a b"},
        {"versionsUrl": "http://x.example/versions"},
        {"versionsUrl": "http://x.example/versions", "token": "t", "extra": 1},
    ],
)
async def test_a_bad_registration_request_is_422_and_calls_nobody(cpo: Cpo, body: dict[str, Any]) -> None:
    r = await cpo.client.post(f"{OPS}/registrations", json=body, headers=cpo.headers["x"])
    problem(r, 422, "request.invalid")


# -- tenants, roles, the push log ---------------------------------------------------------------


async def test_a_partner_of_x_never_reaches_y(cpo: Cpo) -> None:
    async with emsp_party(party_config("ISO")) as party:
        peer = await party.register_with(cpo.versions_url, await cpo.issue("x"))
        partner = await cpo.partner(party_id="ISO")
        # Its token names X's party, and only X's.
        r = await cpo.ocpi("GET", "/2.2.1/credentials", peer.token_out)
        assert [(role["country_code"], role["party_id"]) for role in r.json()["data"]["roles"]] == [("SE", "XOC")]
        # Y's operators do not see it: as a partner that does not exist.
        y = cpo.headers["y"]
        for method, path in (
            ("GET", f"{OPS}/{partner.id}"),
            ("GET", f"{OPS}/{partner.id}/pushes"),
            ("PUT", f"{OPS}/{partner.id}/registration"),
            ("DELETE", f"{OPS}/{partner.id}"),
        ):
            problem(await cpo.client.request(method, path, headers=y), 404, "roaming.partner_not_found")
            problem(
                await cpo.client.request(method, path.replace(str(partner.id), str(uuid.uuid4())), headers=y),
                404,
                "roaming.partner_not_found",
            )
        listed = await cpo.client.get(OPS, params={"limit": 200}, headers=y)
        assert str(partner.id) not in listed.text and "ISO" not in listed.text
        assert (await cpo.partner(party_id="ISO")).state == "registered"
        # A token A of Y registers a partner with Y, never with X.
        peer_y = await party.register_with(cpo.versions_url, await cpo.issue("y"))
        assert peer_y.roles[0]["party_id"] == "YOC"


async def test_only_admins_change_partners_and_every_role_reads(cpo: Cpo) -> None:
    reader = cpo.headers["x_reader"]
    assert (await cpo.client.get(OPS, headers=reader)).status_code == 200
    some = (await cpo.client.get(OPS, headers=reader)).json()["items"][0]["id"]
    assert (await cpo.client.get(f"{OPS}/{some}", headers=reader)).status_code == 200
    assert (await cpo.client.get(f"{OPS}/{some}/pushes", headers=reader)).status_code == 200
    for method, path, body in (
        ("POST", f"{OPS}/tokens", {}),
        ("POST", f"{OPS}/registrations", {"versionsUrl": "http://127.0.0.1:9/v", "token": "t"}),
        ("PUT", f"{OPS}/{some}/registration", None),
        ("DELETE", f"{OPS}/{some}", None),
    ):
        problem(await cpo.client.request(method, path, json=body, headers=reader), 403, "auth.forbidden")
    problem(await cpo.client.get(OPS), 401, "auth.unauthenticated")


async def test_the_push_log_shows_what_we_sent_and_how_it_went(cpo: Cpo) -> None:
    async with emsp_party(party_config("LOG")) as party:
        peer = await party.register_with(cpo.versions_url, await cpo.issue())
        partner = await cpo.partner(party_id="LOG")
        location = {"id": "LOC-LOG-1", "country_code": "SE", "party_id": "XOC", "last_updated": "2026-12-07T10:00:00Z"}
        async with cpo.maker() as db:
            await enqueue(
                db,
                partner,
                module="locations",
                method="PUT",
                url=f"{party.module_url('locations')}/SE/XOC/LOC-LOG-1",
                body=location,
                object_key="location:LOC-LOG-1",
            )
            await enqueue(
                db,
                partner,
                module="locations",
                method="PUT",
                url=f"{party.module_url('locations')}/SE/YOC/LOC-LOG-2",  # not X's party: refused
                body={**location, "id": "LOC-LOG-2", "party_id": "YOC"},
                object_key="location:LOC-LOG-2",
            )
            await db.commit()
        await cpo.app.state.ocpi_push_worker.send_due()
        await party.wait_for(lambda c: c.method == "PUT" and c.path.endswith("LOC-LOG-2"))
        assert party.locations[("SE", "XOC", "LOC-LOG-1")] == location
        put = next(c for c in party.calls if c.path.endswith("LOC-LOG-1"))
        assert put.headers["authorization"] == token_header(peer.token_in)

        async def log() -> list[dict[str, Any]]:
            r = await cpo.client.get(f"{OPS}/{partner.id}/pushes", headers=cpo.headers["x"])
            assert r.status_code == 200, r.text
            assert r.json()["total"] == 2
            items: list[dict[str, Any]] = r.json()["items"]
            return items

        for _ in range(200):  # the worker writes the outcome just after the partner answered
            newest, oldest = await log()
            if oldest["state"] == "delivered" and newest["lastError"]:
                break
            await asyncio.sleep(0.02)
        assert (oldest["state"], oldest["attempts"], oldest["body"]) == ("delivered", 1, location)
        assert (newest["state"], newest["attempts"]) == ("pending", 1)
        assert "404" in newest["lastError"] and newest["nextAttemptAt"] is not None
        r = await cpo.client.get(
            f"{OPS}/{partner.id}/pushes", params={"limit": 1, "offset": 1}, headers=cpo.headers["x"]
        )
        assert [i["id"] for i in r.json()["items"]] == [oldest["id"]]
    async with cpo.maker() as db:
        assert await db.scalar(select(func.count()).select_from(OcpiPush).where(OcpiPush.partner_id == partner.id)) == 2


async def test_the_calls_we_make_carry_the_base64_token_and_our_party(cpo: Cpo) -> None:
    async with emsp_party(party_config("HDR")) as party:
        peer = await party.register_with(cpo.versions_url, await cpo.issue())
        expected = "Token " + base64.b64encode(peer.token_in.encode()).decode()
        assert {c.headers["authorization"] for c in party.calls} == {expected}
        assert {(c.headers["ocpi-from-country-code"], c.headers["ocpi-from-party-id"]) for c in party.calls} == {
            ("SE", "XOC")
        }


# -- the CLI -----------------------------------------------------------------------------------


def cli_env(cpo: Cpo, database_url: str | None = None) -> dict[str, str]:
    return clean_env(
        LADDNAT_DATABASE_URL=database_url or cpo.settings.db.url,
        LADDNAT_PUBLIC_BASE_URL=cpo.base_url,
        LADDNAT_OCPI_ALLOW_PRIVATE_PARTNERS="true",
    )


@pytest.mark.subprocess
async def test_the_cli_prints_only_token_a_and_registers_with_a_partner(cpo: Cpo) -> None:
    env = cli_env(cpo)
    issued, ambiguous, unknown = await asyncio.gather(
        laddnat("ocpi", "issue-token", "--tenant", "SE*XOC", "--name", "CLI partner", env=env),
        laddnat("ocpi", "issue-token", env=env),  # two companies and no demo one: which?
        laddnat("ocpi", "issue-token", "--tenant", "SE*NOP", env=env),
    )
    assert issued.code == 0, issued.err
    token_a = issued.out.strip()
    assert issued.out == token_a + "\n" and " " not in token_a and len(token_a) >= 32
    for refused in (ambiguous, unknown):
        assert refused.code != 0 and refused.out == ""
        assert len(refused.err_lines) == 1 and "Traceback" not in refused.err, refused.err
    assert "--tenant" in ambiguous.err
    partner = await cpo.partner(token_digest=digest_secret(token_a))
    assert (partner.state, partner.name, partner.operator_id) == ("pending", "CLI partner", cpo.tenant_ids["x"])

    async with emsp_party(party_config("CLA")) as party:
        await party.register_with(cpo.versions_url, token_a)
        assert (await cpo.partner(party_id="CLA")).state == "registered"
    async with emsp_party(party_config("CLB")) as party:
        versions, token = party.versions_url, party.issue_token()
        registered = await laddnat(
            "ocpi", "register", "--tenant", "XOC", "--versions-url", versions, f"--token={token}", env=env
        )
        assert registered.code == 0, registered.err
        assert registered.out.startswith("registered with eMSP CLB NL*CLB (id ")
        assert party.peer.roles[0]["party_id"] == "XOC"
        refused = await laddnat(
            "ocpi", "register", "--tenant", "XOC", "--versions-url", versions, "--token", "spent", env=env
        )
        assert refused.code != 0 and len(refused.err_lines) == 1, refused.err
        assert "roaming.partner_unusable" in refused.err


@pytest.mark.subprocess
async def test_the_cli_takes_the_only_company_by_default(cpo: Cpo, databases: DatabaseFactory) -> None:
    database_url = databases.new()
    engine = create_engine(DatabaseSettings(url=database_url))
    try:
        async with create_sessionmaker(engine)() as db:
            operator, _ = await TenantService(db).create(
                name="Only AB", country_code="SE", party_id="ONL", admin_email="a@only.test", admin_password=PASSWORD
            )
        issued = await laddnat("ocpi", "issue-token", env=cli_env(cpo, database_url))
        assert issued.code == 0, issued.err
        async with create_sessionmaker(engine)() as db:
            partner = await db.scalar(
                select(OcpiPartner).where(OcpiPartner.token_digest == digest_secret(issued.out.strip()))
            )
        assert partner is not None and partner.operator_id == operator.id
    finally:
        await engine.dispose()


# -- the fake party, as our client sees it (what the module tests rely on) ----------------------


async def test_the_party_stores_what_we_push_and_answers_per_spec(cpo: Cpo) -> None:
    async with emsp_party(party_config("PSH")) as party:
        await party.register_with(cpo.versions_url, await cpo.issue())
        partner = await cpo.partner(party_id="PSH")
        assert partner.their_token is not None
        client = PartnerClient(
            cpo.settings.ocpi, partner.their_token, ours=Party("SE", "XOC"), theirs=Party("NL", "PSH")
        )

        def url(module: str, role: str = "RECEIVER") -> str:
            found = endpoint_url(partner.endpoints, module, role)
            assert found is not None
            return found

        at = "2026-12-07T10:00:00Z"
        locations = url("locations")
        evse = {"uid": "E1", "evse_id": "SE*XOC*E1", "status": "AVAILABLE", "last_updated": at, "connectors": []}
        await client.call(
            "PUT", f"{locations}/SE/XOC/L1", {"id": "L1", "name": "Site", "evses": [], "last_updated": at}
        )
        with pytest.raises(PartnerCallFailed) as unknown:
            await client.call("PATCH", f"{locations}/SE/XOC/L1/E1", {"status": "CHARGING", "last_updated": at})
        assert (unknown.value.http_status, unknown.value.ocpi_status) == (404, 2003)
        await client.call("PUT", f"{locations}/SE/XOC/L1/E1", evse)
        with pytest.raises(PartnerCallFailed) as no_date:
            await client.call("PATCH", f"{locations}/SE/XOC/L1/E1", {"status": "CHARGING"})
        assert no_date.value.ocpi_status == 2001
        await client.call("PATCH", f"{locations}/SE/XOC/L1/E1", {"status": "CHARGING", "last_updated": at})
        assert (await client.call("GET", f"{locations}/SE/XOC/L1/E1")).data["status"] == "CHARGING"
        assert party.locations[("SE", "XOC", "L1")]["evses"][0]["status"] == "CHARGING"
        with pytest.raises(PartnerCallFailed) as not_ours:  # a party the client does not have
            await client.call("PUT", f"{locations}/SE/YOC/L2", {"id": "L2", "last_updated": at})
        assert not_ours.value.http_status == 404

        sessions = url("sessions")
        await client.call("PUT", f"{sessions}/SE/XOC/S1", {"id": "S1", "status": "ACTIVE", "last_updated": at})
        await client.call("PATCH", f"{sessions}/SE/XOC/S1", {"kwh": 1.5, "last_updated": at})
        assert party.sessions[("SE", "XOC", "S1")] == {"id": "S1", "status": "ACTIVE", "kwh": 1.5, "last_updated": at}

        cdr = {"id": "CDR1", "country_code": "SE", "party_id": "XOC", "total_cost": {"excl_vat": 1.0}}
        posted = await client.call("POST", url("cdrs"), cdr)
        location = posted.headers["location"]
        assert location.startswith(url("cdrs") + "/")
        assert (await client.call("GET", location)).data == cdr

        tariffs = url("tariffs")
        await client.call("PUT", f"{tariffs}/SE/XOC/T1", {"id": "T1", "currency": "SEK", "last_updated": at})
        await client.call("DELETE", f"{tariffs}/SE/XOC/T1")
        assert party.tariffs == {}

        response_url = party.command_response_url("START_SESSION", "cmd-1")
        await client.call("POST", response_url, {"result": "ACCEPTED"})
        assert party.command_results == [("START_SESSION", "cmd-1", {"result": "ACCEPTED"})]


async def test_the_party_lists_and_authorises_its_tokens_by_its_rules(cpo: Cpo) -> None:
    async with emsp_party(party_config("TOK")) as party:
        await party.register_with(cpo.versions_url, await cpo.issue())
        partner = await cpo.partner(party_id="TOK")
        assert partner.their_token is not None
        client = PartnerClient(cpo.settings.ocpi, partner.their_token)
        tokens = endpoint_url(partner.endpoints, "tokens", "SENDER")
        assert tokens is not None
        party.add_token("CARD-OK")
        party.add_token("CARD-BLOCKED", allowed="BLOCKED")
        page = await client.call("GET", tokens, params={"limit": "1"})
        assert len(page.data) == 1 and page.data[0]["uid"] in party.tokens
        assert (page.headers["x-total-count"], page.headers["x-limit"]) == ("2", "1")
        assert "offset=1" in page.headers["link"]
        allowed = await client.call("POST", f"{tokens}/CARD-OK/authorize", {"location_id": "L1"})
        assert allowed.data["allowed"] == "ALLOWED" and allowed.data["authorization_reference"]
        assert allowed.data["token"]["uid"] == "CARD-OK"
        blocked = await client.call("POST", f"{tokens}/CARD-BLOCKED/authorize", params={"type": "RFID"})
        assert blocked.data["allowed"] == "BLOCKED"
        with pytest.raises(PartnerCallFailed) as unknown:
            await client.call("POST", f"{tokens}/CARD-NOBODY/authorize")
        assert (unknown.value.http_status, unknown.value.ocpi_status) == (404, 2004)
        # Slow to answer, when the test says so: our call gives up first.
        party.authorize_delay_s = 2.0
        with pytest.raises(PartnerCallFailed, match="no answer within"):
            await client.call("POST", f"{tokens}/CARD-OK/authorize", timeout_s=0.1)
        party.authorize_delay_s = 0.0
        # Any other token than the one it gave is refused.
        with pytest.raises(PartnerCallFailed) as refused:
            await PartnerClient(cpo.settings.ocpi, "not-its-token").call("GET", tokens)
        assert refused.value.http_status == 401
