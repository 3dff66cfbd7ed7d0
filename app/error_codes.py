"""Every public error code in one table: ``laddnat error-codes`` writes ``docs/errors.md``.

The table is built by importing every module of the product packages and walking every
``DomainError`` subclass, so an error class added anywhere is listed without registering
it. tests/unit/test_error_codes.py checks the codes and fails while docs/errors.md and the
code disagree.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

from app.core.errors import DomainError, InvalidInput, NotFound

PACKAGES = ("app", "payments", "ocpp_bridge")
DEFAULT_PATH = "docs/errors.md"


def _raise(name: str) -> None:
    # pkgutil calls this when a package fails to import; its default would skip it silently.
    raise ImportError(f"cannot import {name}")


def import_all(packages: tuple[str, ...] = PACKAGES) -> list[str]:
    """Import every module of ``packages`` and return their names; an import error propagates."""
    names: list[str] = []
    for package_name in packages:
        package = importlib.import_module(package_name)
        names.append(package_name)
        for info in pkgutil.walk_packages(package.__path__, f"{package_name}.", onerror=_raise):
            importlib.import_module(info.name)
            names.append(info.name)
    return names


def error_classes(packages: tuple[str, ...] = PACKAGES) -> list[type[DomainError]]:
    """DomainError and every subclass defined in ``packages``, sorted by code then module."""
    import_all(packages)
    found: list[type[DomainError]] = []
    pending = [DomainError]
    while pending:
        cls = pending.pop()
        if cls in found:
            continue
        pending.extend(cls.__subclasses__())
        # Classes a test module defines are not part of the product.
        if cls.__module__.split(".")[0] in packages:
            found.append(cls)
    return sorted(found, key=lambda cls: (cls.code, cls.__module__, cls.__qualname__))


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render() -> str:
    """docs/errors.md as the code defines it."""
    lines = [
        "# Error codes",
        "",
        "Every error the HTTP API answers on purpose is `application/problem+json` (RFC 9457) with",
        "a stable `code`: clients branch on the code, people read `title` and `detail`. A code is",
        "`area.what` in lower snake case, unique, and public API: it is never renamed lightly.",
        "",
        "<!-- Generated from the code: run `laddnat error-codes` (or `python -m app.error_codes`)",
        "     after adding or changing an error class; tests/unit/test_error_codes.py fails while",
        "     this file and the code disagree. -->",
        "",
        "| code | HTTP status | title | module |",
        "| --- | --- | --- | --- |",
    ]
    for cls in error_classes():
        lines.append(f"| `{cls.code}` | {cls.status} | {_cell(cls.title)} | `{cls.__module__}` |")
    lines += [
        "",
        "## Answered by the HTTP layer itself",
        "",
        "`app/core/http.py` answers requests that reach no handler in the same shape:",
        "",
        f"- a body or parameter that fails its schema: 422 `{InvalidInput.code}`, `field` names it;",
        f"- no such route, or a malformed path parameter such as a bad UUID: 404 `{NotFound.code}`;",
        "- a route without that method: 405 `request.method_not_allowed`;",
        "- a body that is not well-formed JSON: 400 `request.bad_request`;",
        "- any other client error: `request.` and its HTTP reason phrase in snake case, without a",
        '  leading "request" (413 `request.entity_too_large`, 415 `request.unsupported_media_type`);',
        f"- an unexpected failure: 500 `{DomainError.code}` (the cause is only in our log).",
        "",
        "A charger gets OCPP CALLERROR codes instead, exactly as the OCPP specifications name",
        "them (`ocpp_bridge/connection.py`, `CALLERROR_CODES`): a `GenericError` carries the",
        "code above in its details.",
        "",
    ]
    return "\n".join(lines)


def export(path: str | Path = DEFAULT_PATH) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(), encoding="utf-8")
    return target


if __name__ == "__main__":
    written = export(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_PATH)
    print(f"wrote {written}")
