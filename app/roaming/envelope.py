"""The OCPI 2.2.1 response envelope, its status codes and pagination (part "Transport and
format", "Status codes").

Every answer under /ocpi is ``{data, status_code, status_message, timestamp}``, errors too:
a client error is HTTP 400 (404 for an object that does not exist, 401 for a credentials
token we do not know) with its OCPI status code in the body, never a problem+json.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, NotFoundException, ValidationException
from litestar.types import ExceptionHandlersMap

log = logging.getLogger("laddnat.roaming")


class Status(enum.IntEnum):
    SUCCESS = 1000
    CLIENT_ERROR = 2000
    INVALID_PARAMETERS = 2001
    NOT_ENOUGH_INFORMATION = 2002
    UNKNOWN_LOCATION = 2003
    UNKNOWN_TOKEN = 2004
    SERVER_ERROR = 3000
    UNABLE_TO_USE_CLIENT_API = 3001
    UNSUPPORTED_VERSION = 3002
    NO_MATCHING_ENDPOINTS = 3003


class OcpiError(Exception):
    """A request we refuse: its OCPI status code, a message for the partner's developer and
    the HTTP status it travels with."""

    def __init__(self, status: Status, message: str, *, http_status: int = 400) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.http_status = http_status


class InvalidParameters(OcpiError):
    def __init__(self, message: str) -> None:
        super().__init__(Status.INVALID_PARAMETERS, message)


class UnknownObject(OcpiError):
    """A GET, PATCH or command on an object we do not have (or that is not this partner's)."""

    def __init__(self, message: str, status: Status = Status.CLIENT_ERROR) -> None:
        super().__init__(status, message, http_status=404)


class Unauthorized(OcpiError):
    """No credentials token, one we do not know, or token A used beyond registration."""

    def __init__(self, message: str = "unknown or missing credentials token") -> None:
        super().__init__(Status.CLIENT_ERROR, message, http_status=401)


class Suspended(OcpiError):
    """A registered partner the operator suspended: known, but not served for now."""

    def __init__(self) -> None:
        super().__init__(Status.CLIENT_ERROR, "this partner is suspended by the operator", http_status=403)


def timestamp(at: datetime | None = None) -> str:
    """OCPI DateTime: UTC, seconds (milliseconds allowed), always with the Z."""
    moment = (at or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def envelope(
    data: Any = None, status: Status = Status.SUCCESS, message: str | None = None, *, at: datetime | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"data": data, "status_code": int(status), "timestamp": timestamp(at)}
    if message is not None:
        body["status_message"] = message
    return body


def ok(
    request: Request[Any, Any, Any],
    data: Any = None,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response[bytes]:
    """A success answer in the envelope (``data`` already plain: dicts, lists, strings)."""
    return Response(
        msgspec.json.encode(envelope(data)),
        status_code=status_code,
        media_type="application/json",
        headers=dict(headers or {}),
    )


def error_response(request: Request[Any, Any, Any], exc: OcpiError) -> Response[bytes]:
    headers: dict[str, str] = {}
    if exc.http_status == 401:
        headers["WWW-Authenticate"] = "Token"
    return Response(
        msgspec.json.encode(envelope(None, exc.status, exc.message)),
        status_code=exc.http_status,
        media_type="application/json",
        headers=headers,
    )


# -- pagination --------------------------------------------------------------------------


class Page(msgspec.Struct, frozen=True):
    """What a paginated GET asked for (offset, limit capped at the server's maximum) and the
    ``last_updated`` window (date_from inclusive, date_to exclusive)."""

    offset: int
    limit: int
    date_from: datetime | None = None
    date_to: datetime | None = None


def parse_datetime(name: str, raw: str | None) -> datetime | None:
    """An OCPI DateTime query parameter; one without a zone is UTC (2.2.1 16.2 "DateTime")."""
    if raw is None or raw == "":
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidParameters(f"{name}={raw!r} is not an RFC 3339 date-time") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_page(query: Mapping[str, str], max_limit: int) -> Page:
    """offset, limit, date_from, date_to from the query string: 2001 for a malformed one."""

    def count(name: str, default: int) -> int:
        raw = query.get(name)
        if raw is None or raw == "":
            return default
        if not raw.isdigit() or len(raw) > 9:
            raise InvalidParameters(f"{name}={raw!r} must be a non-negative integer")
        return int(raw)

    offset = count("offset", 0)
    limit = min(count("limit", max_limit), max_limit)
    date_from = parse_datetime("date_from", query.get("date_from"))
    date_to = parse_datetime("date_to", query.get("date_to"))
    if date_from is not None and date_to is not None and date_to < date_from:
        raise InvalidParameters("date_to is before date_from")
    return Page(offset=offset, limit=limit, date_from=date_from, date_to=date_to)


def paginated(
    request: Request[Any, Any, Any], items: Sequence[Any], total: int, page: Page, base_url: str
) -> Response[bytes]:
    """A page of a list: X-Total-Count, X-Limit and, unless it is the last, Link rel="next"
    with the request's own filters. ``base_url``: the public URL of this endpoint."""
    headers = {"X-Total-Count": str(total), "X-Limit": str(page.limit)}
    following = page.offset + len(items)
    if items and following < total:
        params = {k: v for k, v in request.query_params.items() if k not in ("offset", "limit")}
        params |= {"offset": str(following), "limit": str(page.limit)}
        headers["Link"] = f'<{base_url}?{urlencode(params)}>; rel="next"'
    return ok(request, list(items), headers=headers)


# -- exception handlers of the /ocpi router ------------------------------------------------


def _ocpi_error(request: Request[Any, Any, Any], exc: OcpiError) -> Response[bytes]:
    return error_response(request, exc)


def _validation(request: Request[Any, Any, Any], exc: ValidationException) -> Response[bytes]:
    # Litestar's own refusals: a body that is no JSON, a parameter of the wrong type.
    detail = exc.detail if isinstance(exc.detail, str) else "invalid request"
    return error_response(request, InvalidParameters(detail))


def _http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    if isinstance(exc, NotAuthorizedException):
        return error_response(request, Unauthorized())
    if isinstance(exc, NotFoundException):
        return error_response(request, UnknownObject("no such endpoint or object"))
    status = Status.CLIENT_ERROR if exc.status_code < 500 else Status.SERVER_ERROR
    return error_response(request, OcpiError(status, exc.detail, http_status=exc.status_code))


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    log.exception("OCPI request failed", exc_info=exc)
    return error_response(request, OcpiError(Status.SERVER_ERROR, "internal error", http_status=500))


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    OcpiError: _ocpi_error,
    ValidationException: _validation,
    HTTPException: _http,
    Exception: _unexpected,
}
