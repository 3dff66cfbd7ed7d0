"""HTTP plumbing every controller shares: problem+json errors, paging, error documentation.

Every error leaves the API as ``application/problem+json`` (RFC 9457) with a stable
``code``; clients branch on the code, people read ``title`` and ``detail``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Annotated, Any

import msgspec
from litestar import Litestar, Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import OpenAPI, OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Reference, Schema
from litestar.params import QueryParameter
from litestar.types import ExceptionHandlersMap
from sqlalchemy.exc import SQLAlchemyError

from app.core.errors import DomainError, InvalidInput, NotFound
from app.core.metrics import DB_ERRORS

log = logging.getLogger("laddnat.http")

PROBLEM_MEDIA_TYPE = "application/problem+json"


class ProblemOut(msgspec.Struct, kw_only=True, omit_defaults=True):
    """An RFC 9457 problem; ``code`` is stable public API, ``field`` names the culprit."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    field: str | None = None
    # RFC 9457 extension members, e.g. the audit id of a failed command.
    command_id: str | None = msgspec.field(default=None, name="commandId")
    ocpp_error_code: str | None = msgspec.field(default=None, name="ocppErrorCode")
    ocpp_error_description: str | None = msgspec.field(default=None, name="ocppErrorDescription")
    # Why a session cannot start (offline, out_of_order, occupied, reserved).
    reason: str | None = None
    # The PSP's own code for a declined card or a refused refund.
    provider_code: str | None = msgspec.field(default=None, name="providerCode")


def problem_type(code: str) -> str:
    return f"urn:laddnat:problem:{code}"


def problem_response(
    *,
    status: int,
    code: str,
    title: str,
    detail: str,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, str | None] | None = None,
) -> Response[bytes]:
    body = ProblemOut(
        type=problem_type(code),
        title=title,
        status=status,
        detail=detail,
        code=code,
        field=field,
        **(extensions or {}),
    )
    all_headers = dict(headers or {})
    if status == 401:
        # RFC 6750: say which scheme to use, and whether the token itself was the problem.
        challenge = 'Bearer realm="laddnat"'
        if code in ("auth.invalid_token", "auth.token_revoked"):
            challenge += ', error="invalid_token"'
        all_headers.setdefault("WWW-Authenticate", challenge)
    return Response(
        content=msgspec.json.encode(body),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=all_headers,
    )


# -- exception handlers ----------------------------------------------------------------


def handle_domain_error(request: Request[Any, Any, Any], exc: DomainError) -> Response[bytes]:
    if exc.status >= 500:
        log.error("domain error %s: %s", exc.code, exc.detail, extra={"path": request.url.path})
    field = exc.extra.get("field")
    return problem_response(
        status=exc.status,
        code=exc.code,
        title=exc.title,
        detail=exc.detail,
        field=None if field is None else str(field),
        extensions={k: str(v) for k, v in exc.extra.items() if k in _EXTENSIONS and v is not None},
    )


_EXTENSIONS = ("command_id", "ocpp_error_code", "ocpp_error_description", "reason", "provider_code")


_UNKNOWN_FIELD = re.compile(r"unknown field `([^`]+)`")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _field_of(error: Mapping[str, Any]) -> str | None:
    """The client's name of the field an error is about (JSON path or query name)."""
    key, source, message = error.get("key"), error.get("source"), str(error.get("message", ""))
    if source == "body" and key in (None, "", "data"):
        # msgspec reports an unknown field against the whole body; name the field itself.
        match = _UNKNOWN_FIELD.search(message)
        return match.group(1) if match else None
    if not key:
        return None
    # Query parameters are declared snake_case in Python and named camelCase on the wire.
    return _camel(str(key)) if source == "query" else str(key)


def handle_validation_error(request: Request[Any, Any, Any], exc: ValidationException) -> Response[bytes]:
    errors = [e for e in exc.extra if isinstance(e, Mapping)] if isinstance(exc.extra, list) else []
    parts: list[str] = []
    first_field: str | None = None
    for error in errors:
        field = _field_of(error)
        first_field = first_field or field
        message = str(error.get("message", "invalid"))
        parts.append(f"{field}: {message}" if field and field not in message else message)
    return problem_response(
        status=InvalidInput.status,
        code=InvalidInput.code,
        title=InvalidInput.title,
        detail="; ".join(parts) or str(exc.detail),
        field=first_field,
    )


def handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    """Litestar's own errors (routing, auth, malformed bodies) in the same problem shape."""
    status = exc.status_code
    if isinstance(exc, NotAuthorizedException):
        code, title = "auth.unauthenticated", "Authentication required"
    elif isinstance(exc, PermissionDeniedException):
        code, title = "auth.forbidden", "Not allowed for this account"
    elif isinstance(exc, NotFoundException):
        # No route (or a malformed path parameter): the same answer as a missing resource.
        code, title = NotFound.code, NotFound.title
    elif isinstance(exc, MethodNotAllowedException):
        code, title = "request.method_not_allowed", "Method not allowed"
    elif status >= 500:
        log.error("HTTP %s: %s", status, exc.detail, extra={"path": request.url.path})
        return _internal_error(status)
    else:
        try:
            title = HTTPStatus(status).phrase
        except ValueError:
            title = "Error"
        code = request_code(title)
    return problem_response(status=status, code=code, title=title, detail=str(exc.detail), headers=exc.headers)


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """A bug or an outage: log it whole, tell the client nothing it could misuse."""
    if isinstance(exc, SQLAlchemyError):
        DB_ERRORS.labels(where="api").inc()
    log.exception("unhandled error", exc_info=exc, extra={"path": request.url.path})
    return _internal_error(500)


def request_code(phrase: str) -> str:
    """The code of a client error Litestar raises, from its HTTP reason phrase:
    ``Bad Request`` -> ``request.bad_request``, ``Request Entity Too Large`` ->
    ``request.entity_too_large``."""
    words = re.findall(r"[a-z0-9]+", phrase.lower())
    if words[:1] == ["request"] and len(words) > 1:
        words = words[1:]
    return "request." + "_".join(words)


def _internal_error(status: int) -> Response[bytes]:
    # Tell the client nothing it could misuse; the log holds the cause.
    return problem_response(status=status, code=DomainError.code, title=DomainError.title, detail=DomainError.title)


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    DomainError: handle_domain_error,
    ValidationException: handle_validation_error,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}


# -- paging ----------------------------------------------------------------------------

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
# Deep enough for any list an operator pages through; beyond it a database rejects the
# number (PostgreSQL's OFFSET is a 64-bit integer) or scans for nothing. Asked for more:
# 422 ``request.invalid``, like any other parameter out of its range.
MAX_OFFSET = 1_000_000


class PageParams(msgspec.Struct, frozen=True, kw_only=True):
    limit: int
    offset: int


def provide_page(
    limit: Annotated[
        int, QueryParameter(ge=1, le=MAX_LIMIT, description=f"Items per page, at most {MAX_LIMIT}")
    ] = DEFAULT_LIMIT,
    offset: Annotated[int, QueryParameter(ge=0, le=MAX_OFFSET, description=f"Items to skip, at most {MAX_OFFSET}")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


class Page(msgspec.Struct, kw_only=True, rename="camel"):
    """The paging half of a list response. Each list has its own subclass adding
    ``items: list[XOut]``, so its OpenAPI component gets a plain, stable name."""

    total: int
    limit: int
    offset: int


# -- documenting errors in the OpenAPI ---------------------------------------------------


def problems(*errors: type[DomainError]) -> dict[int, ResponseSpec]:
    """OpenAPI ``responses`` for the DomainErrors a handler raises, codes listed per status."""
    by_status: dict[int, list[str]] = {}
    for error in errors:
        line = f"`{error.code}`: {error.title}"
        if line not in by_status.setdefault(error.status, []):
            by_status[error.status].append(line)
    return {
        status: ResponseSpec(
            data_container=ProblemOut,
            generate_examples=False,
            media_type=PROBLEM_MEDIA_TYPE,
            description="; ".join(lines),
        )
        for status, lines in sorted(by_status.items())
    }


_GENERIC_PROBLEMS = {
    "400": f"`{request_code(HTTPStatus.BAD_REQUEST.phrase)}`: the body is not well-formed JSON",
    "422": f"`{InvalidInput.code}`: a parameter or body field is not valid; `field` names it",
    "500": f"`{DomainError.code}`: an unexpected error, logged on our side",
}
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def document_problems(openapi: OpenAPI) -> None:
    """Describe the errors every operation may answer with, in the shape we really send.

    Litestar documents a 400 with its own error shape for any handler with input; ours
    answers validation errors with a 422 problem, so that entry is replaced.
    """
    schemas = openapi.components.schemas or {}
    if "ProblemOut" not in schemas:
        raise RuntimeError("no handler documents a problem response; ProblemOut is missing")

    def response(description: str) -> OpenAPIResponse:
        return OpenAPIResponse(
            description=description,
            content={PROBLEM_MEDIA_TYPE: OpenAPIMediaType(schema=Reference(ref="#/components/schemas/ProblemOut"))},
        )

    for path_item in (openapi.paths or {}).values():
        for method in _METHODS:
            operation = getattr(path_item, method, None)
            if operation is None:
                continue
            responses = operation.responses if operation.responses is not None else {}
            responses.pop("400", None)
            if operation.request_body is not None:
                responses["400"] = response(_GENERIC_PROBLEMS["400"])
            # A malformed path parameter (a bad UUID) matches no route: 404, not 422.
            checked = [p for p in operation.parameters or [] if getattr(p, "param_in", None) != "path"]
            if checked or operation.request_body is not None:
                responses.setdefault("422", response(_GENERIC_PROBLEMS["422"]))
            responses.setdefault("500", response(_GENERIC_PROBLEMS["500"]))
            operation.responses = responses


# -- documenting the bounds of body fields ------------------------------------------------

_NUMERIC = (OpenAPIType.INTEGER, OpenAPIType.NUMBER)


def document_bounds(app: Litestar) -> None:
    """Put each request body field's numeric bounds where a client's validator finds them.

    msgspec enforces every ``Meta(ge=..., le=...)`` (a 422 ``request.invalid``), but
    Litestar documents them only on a plain field: inside ``X | None``, ``X | UnsetType``
    and list items they are lost, or put beside the ``oneOf`` with a zero bound dropped.
    This reads the structs themselves and writes the bounds onto the numeric schema.
    """
    schemas = app.openapi_schema.components.schemas or {}
    structs: dict[type, msgspec.inspect.StructType] = {}
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            data = handler.parsed_fn_signature.parameters.get("data")
            if data is not None:
                try:
                    _collect_structs(msgspec.inspect.type_info(data.annotation), structs)
                except (TypeError, ValueError):  # not a msgspec type (an upload, raw bytes)
                    continue
    for struct in structs.values():
        schema = schemas.get(struct.cls.__name__)
        if schema is None:
            continue
        for field in struct.fields:
            prop = (schema.properties or {}).get(field.encode_name)
            if prop is not None:
                _write_bounds(prop, field.type)


def _collect_structs(info: msgspec.inspect.Type, into: dict[type, msgspec.inspect.StructType]) -> None:
    if isinstance(info, msgspec.inspect.Metadata):
        _collect_structs(info.type, into)
    elif isinstance(info, msgspec.inspect.StructType):
        if info.cls not in into:
            into[info.cls] = info
            for field in info.fields:
                _collect_structs(field.type, into)
    elif isinstance(info, msgspec.inspect.UnionType):
        for arm in info.types:
            _collect_structs(arm, into)
    elif isinstance(info, msgspec.inspect.ListType | msgspec.inspect.SetType | msgspec.inspect.VarTupleType):
        _collect_structs(info.item_type, into)


def _write_bounds(schema: Schema | Reference, info: msgspec.inspect.Type) -> None:
    if isinstance(schema, Reference):
        return
    if isinstance(info, msgspec.inspect.Metadata):
        info = info.type
    if isinstance(info, msgspec.inspect.UnionType):
        arms = [a for a in info.types if not isinstance(a, msgspec.inspect.NoneType)]
        if len(arms) != 1:
            return
        info = arms[0].type if isinstance(arms[0], msgspec.inspect.Metadata) else arms[0]
    numeric = isinstance(info, msgspec.inspect.IntType | msgspec.inspect.FloatType)
    if schema.one_of or schema.any_of:
        wanted = _NUMERIC if numeric else (OpenAPIType.ARRAY,)
        for arm in schema.one_of or schema.any_of or []:
            if isinstance(arm, Schema) and arm.type in wanted:
                _write_bounds(arm, info)
        if numeric:
            # Litestar's copy beside the oneOf (a zero bound missing): the arm has them now.
            schema.minimum = schema.maximum = schema.exclusive_minimum = schema.exclusive_maximum = None
        return
    if isinstance(info, msgspec.inspect.IntType | msgspec.inspect.FloatType):
        bounds = {"minimum": info.ge, "exclusive_minimum": info.gt, "maximum": info.le, "exclusive_maximum": info.lt}
        for name, value in bounds.items():
            if value is not None:
                setattr(schema, name, value)
    elif isinstance(info, msgspec.inspect.ListType | msgspec.inspect.SetType | msgspec.inspect.VarTupleType):
        if isinstance(schema.items, Schema | Reference):
            _write_bounds(schema.items, info.item_type)
