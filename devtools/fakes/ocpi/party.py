"""The fake eMSP: its state, its OCPI server and its client calls (see the package docstring)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import secrets
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec
import uvicorn
from litestar import Litestar, Request, Response, route

VERSION = "2.2.1"
# The modules an eMSP offers, with its role in each.
EMSP_MODULES: tuple[tuple[str, str], ...] = (
    ("credentials", "SENDER"),
    ("credentials", "RECEIVER"),
    ("locations", "RECEIVER"),
    ("sessions", "RECEIVER"),
    ("cdrs", "RECEIVER"),
    ("tariffs", "RECEIVER"),
    ("tokens", "SENDER"),
    ("commands", "SENDER"),
)
ROOT = "/ocpi/emsp"
# The AuthorizationInfo.allowed values (2.2.1 mod_tokens AllowedType).
ALLOWED_TYPES = ("ALLOWED", "BLOCKED", "EXPIRED", "NO_CREDIT", "NOT_ALLOWED")


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


class RegistrationRefused(Exception):
    """The other party refused our credentials call (or could not be used): its statuses."""

    def __init__(self, message: str, *, http_status: int | None = None, status_code: int | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.status_code = status_code


@dataclass
class Peer:
    """A CPO this party is connected with: ``token_in`` is what it calls us with, ``token_out``
    what we call it with."""

    token_in: str
    token_out: str
    versions_url: str
    endpoints: list[dict[str, str]]
    roles: list[dict[str, Any]]
    state: str = "registered"

    def url(self, module: str) -> str:
        found = [e["url"] for e in self.endpoints if e.get("identifier") == module]
        if not found:
            raise KeyError(f"the CPO lists no {module} endpoint")
        # A CPO is the sender of locations, sessions, cdrs, tariffs; receiver of the rest.
        return found[0].rstrip("/")

    def parties(self) -> set[tuple[str, str]]:
        return {(str(r.get("country_code", "")).upper(), str(r.get("party_id", "")).upper()) for r in self.roles}


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


class Refusal(Exception):
    """An answer in the envelope with an error status."""

    def __init__(self, http_status: int, status_code: int, message: str) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.status_code = status_code
        self.message = message


def now_text() -> str:
    moment = datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def envelope(data: Any = None, status_code: int = 1000, message: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"data": data, "status_code": status_code, "timestamp": now_text()}
    if message:
        body["status_message"] = message
    return body


def token_header(token: str) -> str:
    """2.2.1: the credentials token travels base64-encoded."""
    return "Token " + base64.b64encode(token.encode()).decode()


def presented(header: str | None) -> list[str]:
    """The token in ``Authorization: Token ...``: decoded from base64 (2.2.1) and as sent (2.1.1)."""
    if not header:
        return []
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "token" or not value:
        return []
    found = [value]
    with contextlib.suppress(binascii.Error, UnicodeDecodeError, ValueError):
        found.insert(0, base64.b64decode(value, validate=True).decode("ascii"))
    return found


class EmspParty:
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
        self.tokens: dict[str, dict[str, Any]] = {}  # our Token objects by uid
        self.allowed: dict[str, str] = {}  # uid -> AllowedType our authorisation answers
        self._arrived = asyncio.Condition()

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

    async def _route(self, call: Call, tokens: list[str]) -> tuple[int, Any, dict[str, str]]:
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
            return await self._credentials(call, tokens)
        peer = self._registered_caller(tokens)
        handler = {
            "locations": self._locations,
            "sessions": self._sessions,
            "tariffs": self._tariffs,
            "cdrs": self._cdrs,
            "tokens": self._tokens,
            "commands": self._commands,
        }.get(module)
        if handler is None:
            raise Refusal(404, 2000, f"{module}: not implemented by this fake")
        return await handler(call, peer, rest)

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

    async def _credentials(self, call: Call, tokens: list[str]) -> tuple[int, Any, dict[str, str]]:
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

    # -- receivers of what the CPO pushes

    def _own_party(self, peer: Peer, rest: list[str], at_least: int) -> tuple[str, str]:
        """The client-owned object's country code and party id: one of the CPO's roles (else 404)."""
        if len(rest) < at_least:
            raise Refusal(404, 2000, "incomplete object URL")
        party = (rest[0].upper(), rest[1].upper())
        if party not in peer.parties():
            raise Refusal(404, 2000, f"{'/'.join(party)} is not a party of this client")
        return party

    async def _locations(self, call: Call, peer: Peer, rest: list[str]) -> tuple[int, Any, dict[str, str]]:
        cc, pid = self._own_party(peer, rest, 3)
        key = (cc, pid, rest[2])
        evse_uid = rest[3] if len(rest) > 3 else None
        connector_id = rest[4] if len(rest) > 4 else None
        if len(rest) > 5:
            raise Refusal(404, 2000, "no such object URL")
        location = self.locations.get(key)
        if call.method == "PUT" and evse_uid is None:
            _same_id(call.body, "id", rest[2])
            self.locations[key] = dict(call.body)
            return 200, None, {}
        if location is None:
            raise Refusal(404, 2003, f"unknown location {rest[2]}")
        target, siblings, id_field = _within(location, evse_uid, connector_id)
        if call.method == "GET":
            if target is None:
                raise Refusal(404, 2003, "unknown EVSE or connector")
            return 200, target, {}
        if call.method == "PUT":
            _same_id(call.body, id_field, connector_id or evse_uid or "")
            assert siblings is not None
            siblings[:] = [o for o in siblings if str(o.get(id_field)) != (connector_id or evse_uid)]
            siblings.append(dict(call.body))
            _touch(location, call.body)
            return 200, None, {}
        if call.method == "PATCH":
            if target is None:
                raise Refusal(404, 2003, "unknown EVSE or connector")
            _patch(target, call.body)
            _touch(location, call.body)
            return 200, None, {}
        raise Refusal(405, 2000, f"{call.method} is not a locations receiver method")

    async def _sessions(self, call: Call, peer: Peer, rest: list[str]) -> tuple[int, Any, dict[str, str]]:
        return self._simple_objects(call, peer, rest, self.sessions, "session", deletable=False)

    async def _tariffs(self, call: Call, peer: Peer, rest: list[str]) -> tuple[int, Any, dict[str, str]]:
        return self._simple_objects(call, peer, rest, self.tariffs, "tariff", deletable=True)

    def _simple_objects(
        self,
        call: Call,
        peer: Peer,
        rest: list[str],
        store: dict[tuple[str, str, str], dict[str, Any]],
        kind: str,
        *,
        deletable: bool,
    ) -> tuple[int, Any, dict[str, str]]:
        cc, pid = self._own_party(peer, rest, 3)
        if len(rest) != 3:
            raise Refusal(404, 2000, "no such object URL")
        key = (cc, pid, rest[2])
        if call.method == "PUT":
            _same_id(call.body, "id", rest[2])
            store[key] = dict(call.body)
            return 200, None, {}
        if key not in store:
            raise Refusal(404, 2000, f"unknown {kind} {rest[2]}")
        if call.method == "GET":
            return 200, store[key], {}
        if call.method == "PATCH" and not deletable:
            _patch(store[key], call.body)
            return 200, None, {}
        if call.method == "DELETE" and deletable:
            del store[key]
            return 200, None, {}
        raise Refusal(405, 2000, f"{call.method} is not a {kind}s receiver method")

    async def _cdrs(self, call: Call, peer: Peer, rest: list[str]) -> tuple[int, Any, dict[str, str]]:
        if call.method == "POST" and not rest:
            cdr = call.body
            if not isinstance(cdr, dict) or not all(
                isinstance(cdr.get(f), str) for f in ("id", "country_code", "party_id")
            ):
                raise Refusal(400, 2001, "a CDR needs id, country_code and party_id")
            if (cdr["country_code"].upper(), cdr["party_id"].upper()) not in peer.parties():
                raise Refusal(400, 2001, "the CDR's party is not one of this client's")
            # One CDR per id: a repeated POST (a retry) lands on the same object.
            own_id = f"{cdr['country_code']}-{cdr['party_id']}-{cdr['id']}".upper()
            self.cdrs[own_id] = dict(cdr)
            return 201, None, {"Location": f"{self.module_url('cdrs')}/{own_id}"}
        if call.method == "GET" and len(rest) == 1:
            if rest[0] not in self.cdrs:
                raise Refusal(404, 2000, f"unknown CDR {rest[0]}")
            return 200, self.cdrs[rest[0]], {}
        raise Refusal(405, 2000, f"{call.method} is not a cdrs receiver method")

    # -- the tokens sender

    async def _tokens(self, call: Call, peer: Peer, rest: list[str]) -> tuple[int, Any, dict[str, str]]:
        if call.method == "GET" and not rest:
            return self._token_page(call)
        if call.method == "POST" and len(rest) == 2 and rest[1] == "authorize":
            return await self._authorize(call, rest[0])
        raise Refusal(405, 2000, f"{call.method} is not a tokens sender method")

    def _token_page(self, call: Call) -> tuple[int, Any, dict[str, str]]:
        try:
            offset = int(call.query.get("offset", "0"))
            limit = min(int(call.query.get("limit", "100")), 100)
        except ValueError:
            raise Refusal(400, 2001, "offset and limit are integers") from None
        date_from, date_to = call.query.get("date_from"), call.query.get("date_to")
        tokens = [
            t
            for t in sorted(self.tokens.values(), key=lambda t: (t["last_updated"], t["uid"]))
            if (not date_from or t["last_updated"] >= date_from) and (not date_to or t["last_updated"] < date_to)
        ]
        page = tokens[offset : offset + limit]
        headers = {"X-Total-Count": str(len(tokens)), "X-Limit": str(limit)}
        if offset + len(page) < len(tokens):
            headers["Link"] = f'<{self.module_url("tokens")}?offset={offset + len(page)}&limit={limit}>; rel="next"'
        return 200, page, headers

    async def _authorize(self, call: Call, uid: str) -> tuple[int, Any, dict[str, str]]:
        if self.config.authorize_delay_s:
            await asyncio.sleep(self.config.authorize_delay_s)
        kind = call.query.get("type", "RFID")
        token = self.tokens.get(uid)
        if token is None or token["type"] != kind:
            raise Refusal(404, 2004, f"unknown token {uid} ({kind})")
        info: dict[str, Any] = {"allowed": self.allowed[uid], "token": token}
        if self.allowed[uid] == "ALLOWED":
            info["authorization_reference"] = "AUTH-" + secrets.token_hex(6).upper()
        if isinstance(call.body, dict) and call.body.get("location_id"):
            info["location"] = call.body
        return 200, info, {}

    # -- command results

    async def _commands(self, call: Call, peer: Peer, rest: list[str]) -> tuple[int, Any, dict[str, str]]:
        if call.method != "POST" or len(rest) != 2:
            raise Refusal(405, 2000, "the commands sender takes POSTs of CommandResult at its response_url")
        result = call.body
        if not isinstance(result, dict) or not isinstance(result.get("result"), str):
            raise Refusal(400, 2001, "a CommandResult needs result")
        self.command_results.append((rest[0], rest[1], result))
        return 200, None, {}


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


def _same_id(body: Any, field: str, expected: str) -> None:
    if not isinstance(body, dict):
        raise Refusal(400, 2001, "the body is not an object")
    if str(body.get(field)) != expected:
        raise Refusal(400, 2001, f"{field} {body.get(field)!r} does not match the URL's {expected!r}")


def _patch(target: dict[str, Any], body: Any) -> None:
    if not isinstance(body, dict) or "last_updated" not in body:
        raise Refusal(400, 2001, "a PATCH carries last_updated")
    target.update(body)


def _touch(location: dict[str, Any], body: dict[str, Any]) -> None:
    # An EVSE's or connector's change is a change of its location too (mod_locations 8.2.2).
    if isinstance(body, dict) and body.get("last_updated"):
        location["last_updated"] = body["last_updated"]


def _within(
    location: dict[str, Any], evse_uid: str | None, connector_id: str | None
) -> tuple[dict[str, Any] | None, list[dict[str, Any]] | None, str]:
    """The object the URL names inside ``location``, the list it lives in and its id field."""
    if evse_uid is None:
        return location, None, "id"
    evses: list[dict[str, Any]] = location.setdefault("evses", [])
    evse = next((e for e in evses if str(e.get("uid")) == evse_uid), None)
    if connector_id is None:
        return evse, evses, "uid"
    if evse is None:
        raise Refusal(404, 2003, f"unknown EVSE {evse_uid}")
    connectors: list[dict[str, Any]] = evse.setdefault("connectors", [])
    return next((c for c in connectors if str(c.get("id")) == connector_id), None), connectors, "id"


# -- running it -------------------------------------------------------------------------------


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the caller's loop owns the signals


def _app(party: EmspParty) -> Litestar:
    @route("/{path:path}", http_method=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def anything(request: Request[Any, Any, Any], path: str) -> Response[bytes]:
        return await party.handle(request)

    return Litestar([anything])


@contextlib.asynccontextmanager
async def emsp_party(
    config: EmspConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[EmspParty]:
    """The party listening on ``host``:``port`` (a free one by default) until the block ends."""
    party = EmspParty(config)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    party.base_url = f"http://{host}:{listener.getsockname()[1]}"
    server = _Server(uvicorn.Config(_app(party), log_config=None, access_log=False, lifespan="off"))
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    while not server.started:
        if serving.done():
            await serving  # raises what stopped it
        await asyncio.sleep(0.01)
    try:
        yield party
    finally:
        server.should_exit = True
        await serving
        listener.close()


async def serve_forever(config: EmspConfig, *, host: str, port: int, token_uids: list[str]) -> None:
    async with emsp_party(config, host=host, port=port) as party:
        for uid in token_uids:
            party.add_token(uid)
        print(f"fake eMSP {config.country_code}*{config.party_id} at {party.versions_url}")
        print(f"token A for a CPO to register with it: {party.issue_token()}", flush=True)
        await asyncio.Event().wait()
