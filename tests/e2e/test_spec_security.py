"""The OpenAPI document says what the server enforces: every operation it marks as needing
a bearer token answers 401 without one, and every operation it marks public does not.

Walks every operation of the app's own document (so a new route is covered the day it is
added), calls it with no credentials and well-formed placeholders for its path
parameters."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.core.settings import Settings
from app.main import create_app
from tests.e2e.test_api import running

pytestmark = pytest.mark.one_database

METHODS = ("get", "put", "post", "patch", "delete")


def _placeholder(parameter: dict[str, Any]) -> str:
    schema = parameter.get("schema", {})
    if schema.get("format") == "uuid":
        return str(uuid.uuid4())
    if schema.get("type") == "integer":
        return "1"
    return "placeholder"


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """(operationId, method, concrete path, secured) for every operation of ``doc``."""
    default = doc.get("security") or []
    found = []
    for path, item in doc["paths"].items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            concrete = path
            for parameter in [*item.get("parameters", []), *operation.get("parameters", [])]:
                if parameter.get("in") == "path":
                    concrete = concrete.replace("{" + parameter["name"] + "}", _placeholder(parameter))
            secured = bool(operation.get("security", default))
            found.append((operation.get("operationId", f"{method} {path}"), method, concrete, secured))
    return found


@pytest.fixture(scope="module")
async def client(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, Any]]]:
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with running(app), httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        r = await http.get("/schema/openapi.json")
        assert r.status_code == 200
        yield http, r.json()


async def test_every_operation_enforces_what_the_spec_says(client: tuple[httpx.AsyncClient, dict[str, Any]]) -> None:
    http, doc = client
    operations = _operations(doc)
    assert len(operations) > 50  # the whole API, not an empty document
    wrong = []
    for operation_id, method, path, secured in operations:
        kwargs: dict[str, Any] = {"json": {}} if method in ("post", "put", "patch") else {}
        # Streams (server-sent events) answer 200 and keep going: the status is enough.
        async with http.stream(method.upper(), path, **kwargs) as r:
            status = r.status_code
        if secured and status != 401:
            wrong.append(f"{operation_id} ({method.upper()} {path}): marked secured, answered {status}")
        if not secured and status == 401:
            wrong.append(f"{operation_id} ({method.upper()} {path}): marked public, answered 401")
    assert not wrong, "\n".join(wrong)


async def test_the_driver_session_operations_are_marked_secured(
    client: tuple[httpx.AsyncClient, dict[str, Any]],
) -> None:
    _, doc = client
    sessions = {(op, secured) for op, _, path, secured in _operations(doc) if path.startswith("/api/v1/sessions")}
    assert len(sessions) >= 8
    assert all(secured for _, secured in sessions), sorted(sessions)
