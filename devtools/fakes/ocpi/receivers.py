"""The fake eMSP's receivers (locations, sessions, tariffs, cdrs), its tokens sender and
the command results it takes at its response_url: what the CPO pushes is stored, and
answered as 2.2.1 says."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from devtools.fakes.ocpi.wire import Call, Peer, Refusal

Answer = tuple[int, Any, dict[str, str]]  # HTTP status, data, extra headers


class Receivers:
    """Mixed into EmspParty: the state it keeps of what the CPO pushed."""

    locations: dict[tuple[str, str, str], dict[str, Any]]
    sessions: dict[tuple[str, str, str], dict[str, Any]]
    tariffs: dict[tuple[str, str, str], dict[str, Any]]
    cdrs: dict[str, dict[str, Any]]
    command_results: list[tuple[str, str, dict[str, Any]]]
    profile_results: list[tuple[str, str, dict[str, Any]]]
    active_profiles: dict[str, dict[str, Any]]
    tokens: dict[str, dict[str, Any]]
    allowed: dict[str, str]
    authorize_delay_s: float

    def module_url(self, module: str) -> str:
        raise NotImplementedError

    def _own_party(self, peer: Peer, rest: list[str], at_least: int) -> tuple[str, str]:
        """The client-owned object's country code and party id: one of the CPO's roles (else 404)."""
        if len(rest) < at_least:
            raise Refusal(404, 2000, "incomplete object URL")
        party = (rest[0].upper(), rest[1].upper())
        if party not in peer.parties():
            raise Refusal(404, 2000, f"{'/'.join(party)} is not a party of this client")
        return party

    async def _locations(self, call: Call, peer: Peer, rest: list[str]) -> Answer:
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

    async def _sessions(self, call: Call, peer: Peer, rest: list[str]) -> Answer:
        return self._simple_objects(call, peer, rest, self.sessions, "session", deletable=False)

    async def _tariffs(self, call: Call, peer: Peer, rest: list[str]) -> Answer:
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
    ) -> Answer:
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

    async def _cdrs(self, call: Call, peer: Peer, rest: list[str]) -> Answer:
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

    async def _tokens(self, call: Call, peer: Peer, rest: list[str]) -> Answer:
        if call.method == "GET" and not rest:
            return self._token_page(call)
        if call.method == "POST" and len(rest) == 2 and rest[1] == "authorize":
            return await self._authorize(call, rest[0])
        raise Refusal(405, 2000, f"{call.method} is not a tokens sender method")

    def _token_page(self, call: Call) -> Answer:
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

    async def _authorize(self, call: Call, uid: str) -> Answer:
        if self.authorize_delay_s:
            await asyncio.sleep(self.authorize_delay_s)
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

    async def _commands(self, call: Call, peer: Peer, rest: list[str]) -> Answer:
        if call.method != "POST" or len(rest) != 2:
            raise Refusal(405, 2000, "the commands sender takes POSTs of CommandResult at its response_url")
        result = call.body
        if not isinstance(result, dict) or not isinstance(result.get("result"), str):
            raise Refusal(400, 2001, "a CommandResult needs result")
        self.command_results.append((rest[0], rest[1], result))
        return 200, None, {}

    # -- the chargingprofiles sender: results at its response_url, the CPO's updates

    async def _charging_profiles(self, call: Call, peer: Peer, rest: list[str]) -> Answer:
        if call.method == "POST" and len(rest) == 2:
            result = call.body
            if not isinstance(result, dict) or not isinstance(result.get("result"), str):
                raise Refusal(400, 2001, "a charging profile result needs result")
            self.profile_results.append((rest[0], rest[1], result))
            return 200, None, {}
        if call.method == "PUT" and len(rest) == 1:
            if not isinstance(call.body, dict):
                raise Refusal(400, 2001, "an ActiveChargingProfile is an object")
            self.active_profiles[rest[0]] = dict(call.body)
            return 200, None, {}
        raise Refusal(405, 2000, f"{call.method} is not a chargingprofiles sender method")


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
