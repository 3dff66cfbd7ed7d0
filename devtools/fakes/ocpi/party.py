"""The fake eMSP: its state, its client calls (the handshake from its side) and its server's
routing; the receivers are in receivers.py, the wire helpers in wire.py."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import msgspec
from litestar import Request, Response

from devtools.fakes.ocpi.receivers import Answer, Receivers
from devtools.fakes.ocpi.wire import (
    ALLOWED_TYPES,
    EMSP_MODULES,
    ROOT,
    VERSION,
    Call,
    Peer,
    Refusal,
    RegistrationRefused,
    envelope,
    next_link,
    now_text,
    presented,
    token_header,
)


class Listener(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


@dataclass
class EmspConfig:
    country_code: str = "NL"
    party_id: str = "EMP"
    name: str = "Fake eMSP"
    # The versions its versions endpoint lists (only 2.2.1 has details): ("2.1.1",) plays a
    # partner we share no version with.
    versions: tuple[str, ...] = (VERSION,)
    # The modules its 2.2.1 details list.
    modules: tuple[tuple[str, str], ...] = EMSP_MODULES
    # How long a real-time authorisation takes (to test the CPO's timeout).
    authorize_delay_s: float = 0.0
    # Seconds its own calls wait for the CPO.
    timeout_s: float = 10.0
    # Checks each body the CPO sends (module, method, the URL's parts after the module,
    # body) and says what is wrong with it, or None: a wrong body is answered 2001 and kept
    # in ``refused`` (tests pass the OCPI 2.2.1 schemas; the party knows none itself).
    check_body: Callable[[str, str, list[str], Any], str | None] | None = None


class EmspParty(Receivers):
    def __init__(self, config: EmspConfig | None = None) -> None:
        self.config = config or EmspConfig()
        self.base_url = ""
        self.calls: list[Call] = []
        self.tokens_a: set[str] = set()  # issued, not yet used to register
        self.peers: dict[str, Peer] = {}  # by the token the CPO calls us with
        self.pending: dict[str, str] = {}  # token B -> the CPO versions URL, while we register
        self.locations: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.sessions: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.tariffs: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.cdrs: dict[str, dict[str, Any]] = {}  # by our own id (the Location header's)
        self.command_results: list[tuple[str, str, dict[str, Any]]] = []  # (command, uid, CommandResult)
        # (kind, uid, result) at a profile response_url; ActiveChargingProfiles by session id.
        self.profile_results: list[tuple[str, str, dict[str, Any]]] = []
        self.active_profiles: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, dict[str, Any]] = {}  # our Token objects by uid
        self.allowed: dict[str, str] = {}  # uid -> AllowedType our authorisation answers
        self.authorize_delay_s = self.config.authorize_delay_s
        self.refused: list[tuple[Call, str]] = []  # bodies check_body found wrong, and why
        self._arrived = asyncio.Condition()
        self.listener: Listener | None = None  # set by emsp_party: how to go down and back

    @contextlib.asynccontextmanager
    async def offline(self) -> AsyncIterator[None]:
        """The party is down for the block (its port refuses connections), then back on the
        same port with all its state: a partner outage as the CPO sees it."""
        if self.listener is None:
            raise RuntimeError("the party is not served by emsp_party")
        await self.listener.stop()
        try:
            yield
        finally:
            await self.listener.start()

    # -- configuration -----------------------------------------------------------------------

    @property
    def versions_url(self) -> str:
        return f"{self.base_url}{ROOT}/versions"

    def module_url(self, module: str) -> str:
        return f"{self.base_url}{ROOT}/{VERSION}/{module}"

    def issue_token(self) -> str:
        """A token A for a CPO to register with us (given "offline", as the spec says)."""
        token = secrets.token_urlsafe(24)
        self.tokens_a.add(token)
        return token

    def add_token(
        self, uid: str, *, allowed: str = "ALLOWED", type: str = "RFID", whitelist: str = "NEVER", valid: bool = True
    ) -> dict[str, Any]:
        """A token of ours (listed by the tokens sender) and how we authorise it."""
        assert allowed in ALLOWED_TYPES, allowed
        token = {
            "country_code": self.config.country_code,
            "party_id": self.config.party_id,
            "uid": uid,
            "type": type,
            "contract_id": f"{self.config.country_code}-{self.config.party_id}-C{uid[-8:]}",
            "issuer": self.config.name,
            "valid": valid,
            "whitelist": whitelist,
            "last_updated": now_text(),
        }
        self.tokens[uid] = token
        self.allowed[uid] = allowed
        return token

    def command_response_url(self, command: str, uid: str | None = None) -> str:
        """The response_url to put in a command we send: the CPO POSTs the CommandResult there."""
        return f"{self.module_url('commands')}/{command}/{uid or uuid.uuid4().hex[:12]}"

    def profile_response_url(self, kind: str, uid: str | None = None) -> str:
        """The response_url of a chargingprofiles request we send (``kind``: "active" for a
        GET, "set" for a PUT, "clear" for a DELETE): the CPO POSTs the result there."""
        return f"{self.module_url('chargingprofiles')}/{kind}/{uid or uuid.uuid4().hex[:12]}"

    @property
    def peer(self) -> Peer:
        """The registered CPO (tests connect to one)."""
        registered = [p for p in self.peers.values() if p.state == "registered"]
        assert len(registered) == 1, f"{len(registered)} registered CPOs"
        return registered[0]

    async def wait_for(self, match: Callable[[Call], bool], *, count: int = 1, timeout_s: float = 10.0) -> list[Call]:
        async with asyncio.timeout(timeout_s), self._arrived:
            await self._arrived.wait_for(lambda: len([c for c in self.calls if match(c)]) >= count)
            return [c for c in self.calls if match(c)]

    # -- our side of the handshake -------------------------------------------------------------

    def own_credentials(self, token: str) -> dict[str, Any]:
        return {
            "token": token,
            "url": self.versions_url,
            "roles": [
                {
                    "role": "EMSP",
                    "party_id": self.config.party_id,
                    "country_code": self.config.country_code,
                    "business_details": {"name": self.config.name},
                }
            ],
        }

    async def register_with(self, versions_url: str, token_a: str) -> Peer:
        """Register with a CPO (we are the client, 2.2.1 7.1): its details with token A, then
        POST our credentials with a fresh token B; the token C it answers is ours to call it."""
        endpoints = await self._their_details(versions_url, token_a)
        token_b = secrets.token_urlsafe(24)
        self.pending[token_b] = versions_url  # the CPO reads our versions with B meanwhile
        try:
            theirs = await self._send_credentials("POST", endpoints, token_a, token_b)
        finally:
            self.pending.pop(token_b, None)
        peer = Peer(token_b, theirs["token"], versions_url, endpoints, theirs["roles"])
        self.peers[token_b] = peer
        return peer

    async def update(self) -> Peer:
        """PUT new credentials (a new token B) to the registered CPO; its new token C back."""
        peer = self.peer
        endpoints = await self._their_details(peer.versions_url, peer.token_out)
        token_b = secrets.token_urlsafe(24)
        self.pending[token_b] = peer.versions_url
        try:
            theirs = await self._send_credentials("PUT", endpoints, peer.token_out, token_b)
        finally:
            self.pending.pop(token_b, None)
        del self.peers[peer.token_in]
        updated = Peer(token_b, theirs["token"], peer.versions_url, endpoints, theirs["roles"])
        self.peers[token_b] = updated
        return updated

    async def unregister(self) -> None:
        peer = self.peer
        status, body = await self.call(peer, "DELETE", peer.url("credentials"))
        if status != 200 or body.get("status_code") != 1000:
            raise RegistrationRefused(f"DELETE credentials: {status} {body}", http_status=status)
        peer.state = "unregistered"

    async def call(
        self, peer: Peer | None, method: str, url: str, body: Any = None, *, token: str | None = None
    ) -> tuple[int, dict[str, Any]]:
        """A call to the CPO with our token for it (or ``token``): its HTTP status and envelope."""
        use = token if token is not None else (peer.token_out if peer else "")
        headers = {
            "Authorization": token_header(use),
            "X-Request-ID": str(uuid.uuid4()),
            "X-Correlation-ID": str(uuid.uuid4()),
            "OCPI-from-country-code": self.config.country_code,
            "OCPI-from-party-id": self.config.party_id,
        }
        async with httpx.AsyncClient(timeout=self.config.timeout_s) as http:
            response = await http.request(method, url, json=body, headers=headers)
        try:
            payload = response.json()
        except ValueError:
            payload = {"raw": response.text}
        return response.status_code, payload if isinstance(payload, dict) else {"data": payload}

    async def pages(
        self, module: str, *, limit: int | None = None, follow: int = 100
    ) -> list[tuple[dict[str, str], dict[str, Any]]]:
        """GET a CPO sender's list (``module``) from the start, then every next page its
        ``Link rel="next"`` header names: each page's headers and envelope."""
        peer = self.peer
        url: str | None = peer.url(module) + (f"?offset=0&limit={limit}" if limit is not None else "")
        found: list[tuple[dict[str, str], dict[str, Any]]] = []
        async with httpx.AsyncClient(timeout=self.config.timeout_s) as http:
            while url is not None:
                if len(found) >= follow:
                    raise AssertionError(f"{module}: more than {follow} pages")
                response = await http.get(url, headers={"Authorization": token_header(peer.token_out)})
                body = response.json()
                if response.status_code != 200 or body.get("status_code") != 1000:
                    raise AssertionError(f"GET {url}: {response.status_code} {body}")
                found.append((dict(response.headers), body))
                url = next_link(response.headers.get("link"))
        return found

    async def _their_details(self, versions_url: str, token: str) -> list[dict[str, str]]:
        status, body = await self._get(versions_url, token)
        versions = body.get("data")
        if status != 200 or body.get("status_code") != 1000 or not isinstance(versions, list):
            raise RegistrationRefused(f"versions: {status} {body}", http_status=status, status_code=3001)
        url = next((v.get("url") for v in versions if isinstance(v, dict) and v.get("version") == VERSION), None)
        if not url:
            raise RegistrationRefused(f"no {VERSION} among {versions}", status_code=3002)
        status, body = await self._get(url, token)
        details = body.get("data")
        if status != 200 or not isinstance(details, dict) or not isinstance(details.get("endpoints"), list):
            raise RegistrationRefused(f"version details: {status} {body}", http_status=status, status_code=3001)
        endpoints = [e for e in details["endpoints"] if isinstance(e, dict) and e.get("identifier") and e.get("url")]
        if not any(e["identifier"] == "credentials" for e in endpoints):
            raise RegistrationRefused("the CPO lists no credentials endpoint", status_code=3003)
        return endpoints

    async def _get(self, url: str, token: str) -> tuple[int, dict[str, Any]]:
        try:
            return await self.call(None, "GET", url, token=token)
        except httpx.HTTPError as exc:
            raise RegistrationRefused(f"GET {url}: {exc!r}", status_code=3001) from None

    async def _send_credentials(
        self, method: str, endpoints: list[dict[str, str]], token: str, ours: str
    ) -> dict[str, Any]:
        url = next(e["url"] for e in endpoints if e["identifier"] == "credentials")
        status, body = await self.call(None, method, url, self.own_credentials(ours), token=token)
        theirs = body.get("data")
        if status != 200 or body.get("status_code") != 1000 or not isinstance(theirs, dict):
            raise RegistrationRefused(
                f"{method} credentials: {status} {body}", http_status=status, status_code=body.get("status_code")
            )
        if not isinstance(theirs.get("token"), str) or not isinstance(theirs.get("roles"), list):
            raise RegistrationRefused(f"{method} credentials: not a Credentials object: {theirs}")
        return theirs

    # -- the server ------------------------------------------------------------------------------

    async def handle(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        raw = await request.body()
        try:
            body = msgspec.json.decode(raw) if raw else None
        except msgspec.DecodeError:
            body = msgspec.UNSET
        call = Call(request.method, request.url.path, dict(request.query_params), dict(request.headers), body)
        async with self._arrived:
            self.calls.append(call)
            self._arrived.notify_all()
        headers = {h: v for h in ("X-Request-ID", "X-Correlation-ID") if (v := request.headers.get(h))}
        try:
            if body is msgspec.UNSET:
                raise Refusal(400, 2001, "the body is not JSON")
            status, data, extra = await self._route(call, presented(request.headers.get("authorization")))
        except Refusal as refusal:
            answer = envelope(None, refusal.status_code, refusal.message)
            return Response(msgspec.json.encode(answer), status_code=refusal.http_status, headers=headers)
        return Response(msgspec.json.encode(envelope(data)), status_code=status, headers={**headers, **extra})

    async def _route(self, call: Call, tokens: list[str]) -> Answer:
        if not call.path.startswith(ROOT + "/"):
            raise Refusal(404, 2000, "no such endpoint")
        parts = [p for p in call.path[len(ROOT) + 1 :].split("/") if p]
        if parts == ["versions"] and call.method == "GET":
            self._handshake_caller(tokens)
            return 200, [{"version": v, "url": f"{self.base_url}{ROOT}/{v}"} for v in self.config.versions], {}
        if parts == [VERSION] and call.method == "GET" and VERSION in self.config.versions:
            self._handshake_caller(tokens)
            endpoints = [{"identifier": m, "role": r, "url": self.module_url(m)} for m, r in self.config.modules]
            return 200, {"version": VERSION, "endpoints": endpoints}, {}
        if len(parts) < 2 or parts[0] != VERSION:
            raise Refusal(404, 2000, "no such endpoint")
        module, rest = parts[1], parts[2:]
        if not any(m == module for m, _ in self.config.modules):
            raise Refusal(404, 2000, f"no {module} module here")
        if module == "credentials":
            self._check(call, module, rest)
            return await self._credentials(call, tokens)
        peer = self._registered_caller(tokens)
        self._check(call, module, rest)
        handler = {
            "locations": self._locations,
            "sessions": self._sessions,
            "tariffs": self._tariffs,
            "cdrs": self._cdrs,
            "tokens": self._tokens,
            "commands": self._commands,
            "chargingprofiles": self._charging_profiles,
        }.get(module)
        if handler is None:
            raise Refusal(404, 2000, f"{module}: not implemented by this fake")
        return await handler(call, peer, rest)

    def _check(self, call: Call, module: str, rest: list[str]) -> None:
        problem = self.config.check_body(module, call.method, rest, call.body) if self.config.check_body else None
        if problem is not None:
            self.refused.append((call, problem))
            raise Refusal(400, 2001, problem)

    # -- auth

    def _handshake_caller(self, tokens: list[str]) -> Peer | str:
        """Versions and credentials: token A, a token B of a registration under way, or a peer."""
        for token in tokens:
            if token in self.tokens_a or token in self.pending:
                return token
            peer = self.peers.get(token)
            if peer is not None and peer.state == "registered":
                return peer
        raise Refusal(401, 2000, "unknown or missing credentials token")

    def _registered_caller(self, tokens: list[str]) -> Peer:
        for token in tokens:
            peer = self.peers.get(token)
            if peer is not None and peer.state == "registered":
                return peer
        raise Refusal(401, 2000, "unknown or missing credentials token")

    # -- credentials (we are the server)

    async def _credentials(self, call: Call, tokens: list[str]) -> Answer:
        caller = self._handshake_caller(tokens)
        if call.method == "GET":
            return 200, self.own_credentials(caller.token_in if isinstance(caller, Peer) else caller), {}
        if call.method == "POST":
            if isinstance(caller, Peer) or caller not in self.tokens_a:
                raise Refusal(405, 2000, "already registered")
            credentials = _credentials_of(call.body)
            endpoints = await self._peer_details(credentials)
            self.tokens_a.discard(caller)
            token_c = secrets.token_urlsafe(24)
            self.peers[token_c] = Peer(
                token_c, credentials["token"], credentials["url"], endpoints, credentials["roles"]
            )
            return 200, self.own_credentials(token_c), {}
        if not isinstance(caller, Peer):
            raise Refusal(405, 2000, "not registered")
        if call.method == "PUT":
            credentials = _credentials_of(call.body)
            endpoints = await self._peer_details(credentials)
            del self.peers[caller.token_in]
            token_c = secrets.token_urlsafe(24)
            self.peers[token_c] = Peer(
                token_c, credentials["token"], credentials["url"], endpoints, credentials["roles"]
            )
            return 200, self.own_credentials(token_c), {}
        if call.method == "DELETE":
            caller.state = "unregistered"
            return 200, None, {}
        raise Refusal(405, 2000, f"{call.method} is not a credentials method")

    async def _peer_details(self, credentials: dict[str, Any]) -> list[dict[str, str]]:
        try:
            return await self._their_details(credentials["url"], credentials["token"])
        except RegistrationRefused as exc:
            raise Refusal(400, exc.status_code or 3001, str(exc)) from None


def _credentials_of(body: Any) -> dict[str, Any]:
    """The few checks a Credentials object must pass (2.2.1 7.3)."""
    if not isinstance(body, dict):
        raise Refusal(400, 2001, "credentials: not an object")
    token, url, roles = body.get("token"), body.get("url"), body.get("roles")
    if not isinstance(token, str) or not 0 < len(token) <= 64 or not isinstance(url, str) or not url:
        raise Refusal(400, 2001, "credentials: token (string(64)) and url are required")
    if not isinstance(roles, list) or not roles:
        raise Refusal(400, 2001, "credentials: at least one role")
    for role in roles:
        ok = (
            isinstance(role, dict)
            and isinstance(role.get("role"), str)
            and isinstance(role.get("country_code"), str)
            and len(role["country_code"]) == 2
            and isinstance(role.get("party_id"), str)
            and len(role["party_id"]) == 3
            and isinstance(role.get("business_details"), dict)
            and isinstance(role["business_details"].get("name"), str)
        )
        if not ok:
            raise Refusal(
                400, 2001, f"credentials: a role needs role, country_code, party_id, business_details: {role}"
            )
    return body
