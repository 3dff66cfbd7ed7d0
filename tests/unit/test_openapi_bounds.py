"""Every number the API takes is bounded in the OpenAPI (issue 13: an offset above 2^63 and
a huge olderThanMinutes were a 500). The server enforces the same bounds with a 422
(tests/e2e/test_schemathesis.py); here a new parameter or body field without them fails."""

from __future__ import annotations

from typing import Any

import pytest

from app.openapi_export import render

_METHODS = ("get", "put", "post", "patch", "delete")


def _types(schema: dict[str, Any]) -> set[str]:
    kind = schema.get("type")
    return set(kind if isinstance(kind, list) else [kind])


def _unbounded(
    schema: dict[str, Any], where: str, components: dict[str, Any], seen: frozenset[str], found: list[str]
) -> None:
    """Collect the numbers under ``schema`` that lack a lower or an upper bound. A bound
    beside a ``oneOf`` applies to its numeric arm (JSON Schema: it constrains numbers only)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return
        seen, schema = seen | {name}, components[name]
    _check(schema, where, components, seen, found, low=False, high=False)


def _check(
    schema: dict[str, Any],
    where: str,
    components: dict[str, Any],
    seen: frozenset[str],
    found: list[str],
    *,
    low: bool,
    high: bool,
) -> None:
    if "$ref" in schema:
        _unbounded(schema, where, components, seen, found)
        return
    low = low or "minimum" in schema or "exclusiveMinimum" in schema
    high = high or "maximum" in schema or "exclusiveMaximum" in schema
    if _types(schema) & {"integer", "number"} and not (low and high):
        found.append(where)
    for key in ("oneOf", "anyOf", "allOf"):
        for arm in schema.get(key, []):
            _check(arm, where, components, seen, found, low=low, high=high)
    for name, prop in schema.get("properties", {}).items():
        _unbounded(prop, f"{where}.{name}", components, seen, found)
    if isinstance(schema.get("items"), dict):
        _unbounded(schema["items"], f"{where}[]", components, seen, found)


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    import json

    return json.loads(render())  # type: ignore[no-any-return]


def test_every_number_parameter_and_body_field_has_both_bounds(document: dict[str, Any]) -> None:
    components = document["components"]["schemas"]
    found: list[str] = []
    numbers = 0
    for path, item in document["paths"].items():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            for parameter in operation.get("parameters", []):
                where = f"{method.upper()} {path} {parameter['in']}:{parameter['name']}"
                numbers += bool(_types(parameter["schema"]) & {"integer", "number"})
                _unbounded(parameter["schema"], where, components, frozenset(), found)
            for content in operation.get("requestBody", {}).get("content", {}).values():
                _unbounded(content["schema"], f"{method.upper()} {path} body", components, frozenset(), found)
    assert numbers > 20, "the walk found no numeric parameters: has the document's shape changed?"
    assert not found, "numbers without a minimum and a maximum:\n" + "\n".join(sorted(set(found)))


def test_bounds_inside_optional_fields_and_list_items_are_on_the_number(document: dict[str, Any]) -> None:
    """Litestar dropped these (or a zero bound); app.core.http.document_bounds restores them."""
    schemas = document["components"]["schemas"]
    days = schemas["BandIn"]["properties"]["days"]["items"]
    assert (days["minimum"], days["maximum"]) == (1, 7)
    minimum = schemas["TariffIn"]["properties"]["minPriceMinor"]
    number = next(arm for arm in minimum["oneOf"] if arm.get("type") == "integer")
    assert (number["minimum"], number["maximum"]) == (0, 1_000_000_000)
    vat = schemas["TariffPatchIn"]["properties"]["vatRateBp"]
    number = next(arm for arm in vat.get("oneOf", [vat]) if arm.get("type") == "integer")
    assert (number["minimum"], number["maximum"]) == (0, 10_000)
