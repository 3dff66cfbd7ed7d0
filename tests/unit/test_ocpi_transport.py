"""The OCPI transport pieces every module stands on: the credentials token header, the
envelope and its timestamp, and pagination (2.2.1 "Transport and format")."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest
from litestar import Request, Response, Router, get
from litestar.testing import create_test_client

from app.roaming.auth import encode_token, presented_tokens
from app.roaming.envelope import EXCEPTION_HANDLERS, InvalidParameters, Page, paginated, parse_page, timestamp
from app.roaming.headers import OcpiHeaders


def test_the_token_is_taken_base64_encoded_and_as_sent() -> None:
    encoded = base64.b64encode(b"example-token").decode()
    assert presented_tokens(f"Token {encoded}") == ["example-token", encoded]
    assert presented_tokens("Token example-token") == ["example-token"]  # 2.1.1 style: no base64
    assert encode_token("example-token") == f"Token {encoded}"


@pytest.mark.parametrize(
    "header", [None, "", "Token", "Token ", "Bearer abc", "token" + " x" * 400, "Token " + "a" * 600]
)
def test_no_token_is_read_from_a_malformed_header(header: str | None) -> None:
    assert presented_tokens(header) == []


def test_a_base64_of_unprintable_bytes_is_only_taken_as_sent() -> None:
    raw = base64.b64encode(b"\x00\x01secret").decode()
    assert presented_tokens(f"Token {raw}") == [raw]


def test_timestamps_are_utc_with_z() -> None:
    assert timestamp(datetime(2026, 12, 7, 15, 4, 5, 678900, tzinfo=UTC)) == "2026-12-07T15:04:05.678Z"


def test_a_page_is_capped_at_the_servers_limit() -> None:
    assert parse_page({"offset": "20", "limit": "5000"}, 100) == Page(offset=20, limit=100)
    assert parse_page({}, 50) == Page(offset=0, limit=50)
    page = parse_page({"date_from": "2026-01-01T00:00:00Z", "date_to": "2026-02-01T00:00:00"}, 10)
    assert page.date_from == datetime(2026, 1, 1, tzinfo=UTC)
    assert page.date_to == datetime(2026, 2, 1, tzinfo=UTC)  # no zone: UTC


@pytest.mark.parametrize(
    "query",
    [
        {"offset": "-1"},
        {"limit": "ten"},
        {"offset": "1" * 12},
        {"date_from": "yesterday"},
        {"date_from": "2026-02-01T00:00:00Z", "date_to": "2026-01-01T00:00:00Z"},
    ],
)
def test_a_malformed_page_is_2001(query: dict[str, str]) -> None:
    with pytest.raises(InvalidParameters):
        parse_page(query, 100)


ITEMS = [{"n": n} for n in range(7)]


@get("/things", sync_to_thread=False)
def things(request: Request[Any, Any, Any]) -> Response[bytes]:
    page = parse_page(request.query_params, 3)
    return paginated(request, ITEMS[page.offset : page.offset + page.limit], len(ITEMS), page, "http://cpo.test/things")


def test_pages_link_to_the_next_with_the_filters_and_echo_the_request_ids() -> None:
    with create_test_client(
        Router("/", route_handlers=[things], exception_handlers=EXCEPTION_HANDLERS, middleware=[OcpiHeaders()])
    ) as client:
        first = client.get("/things", params={"date_from": "2026-01-01T00:00:00Z"}, headers={"X-Request-ID": "r-1"})
        assert first.status_code == 200
        assert first.json()["status_code"] == 1000 and first.json()["data"] == ITEMS[:3]
        assert (first.headers["x-total-count"], first.headers["x-limit"], first.headers["x-request-id"]) == (
            "7",
            "3",
            "r-1",
        )
        assert first.headers["link"] == (
            '<http://cpo.test/things?date_from=2026-01-01T00%3A00%3A00Z&offset=3&limit=3>; rel="next"'
        )
        last = client.get("/things", params={"offset": "6"})
        assert last.json()["data"] == ITEMS[6:] and "link" not in last.headers
        bad = client.get("/things", params={"limit": "x"})
        assert bad.status_code == 400 and bad.json()["status_code"] == 2001
        assert set(bad.json()) == {"data", "status_code", "status_message", "timestamp"}


def test_every_answer_carries_ids_and_mirrors_the_routing_headers() -> None:
    with create_test_client(
        Router("/", route_handlers=[things], exception_handlers=EXCEPTION_HANDLERS, middleware=[OcpiHeaders()])
    ) as client:
        routed = {"OCPI-from-country-code": "NL", "OCPI-from-party-id": "EMP", "X-Correlation-ID": "c-9"}
        answer = client.get("/things", params={"limit": "bad"}, headers=routed)  # an error answer too
        assert answer.headers["x-correlation-id"] == "c-9" and answer.headers["x-request-id"]
        assert (answer.headers["ocpi-to-country-code"], answer.headers["ocpi-to-party-id"]) == ("NL", "EMP")
        bare = client.get("/things")
        assert bare.headers["x-correlation-id"] and bare.headers["x-request-id"]
