"""Error codes are public API: dotted, unique, stated by each class, kept in errors.py
modules, and listed in docs/errors.md exactly as the code defines them."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest

from app.core.errors import DomainError
from app.error_codes import DEFAULT_PATH, PACKAGES, error_classes, import_all, render

ROOT = Path(__file__).resolve().parents[2]

# `area.what`: two or more dotted parts, each lower snake case.
CODE = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*(\.[a-z][a-z0-9]*(_[a-z0-9]+)*)+")


def _name(cls: type[DomainError]) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


@pytest.fixture(scope="module")
def classes() -> list[type[DomainError]]:
    return error_classes()


def _malformed(cls: type[DomainError]) -> bool:
    return CODE.fullmatch(cls.code) is None


def _unstated(cls: type[DomainError]) -> list[str]:
    # An inherited code would be a second class sharing its parent's code.
    return [attr for attr in ("code", "status", "title") if attr not in vars(cls)]


def _outside_errors_module(cls: type[DomainError]) -> bool:
    return cls.__module__.rsplit(".", 1)[-1] != "errors"


def _shared(classes: list[type[DomainError]]) -> dict[str, list[type[DomainError]]]:
    by_code: dict[str, list[type[DomainError]]] = defaultdict(list)
    for cls in classes:
        by_code[cls.code].append(cls)
    return {code: owners for code, owners in by_code.items() if len(owners) > 1}


def test_every_module_of_the_product_imports() -> None:
    names = import_all()
    assert set(PACKAGES) <= set(names)
    assert "app.core.errors" in names and "ocpp_bridge.connection" in names


def test_the_walk_finds_every_area(classes: list[type[DomainError]]) -> None:
    modules = {cls.__module__ for cls in classes}
    assert {"app.core.errors", "app.chargers.errors", "app.sessions.errors", "app.drivers.errors"} <= modules
    assert DomainError in classes


def test_codes_are_dotted_lower_snake_case(classes: list[type[DomainError]]) -> None:
    bad = [f"{_name(cls)}: {cls.code!r}" for cls in classes if _malformed(cls)]
    assert not bad, "codes must be `area.what` in lower snake case:\n" + "\n".join(bad)


def test_each_class_states_its_own_code_status_and_title(classes: list[type[DomainError]]) -> None:
    bad = [f"{_name(cls)} inherits {', '.join(_unstated(cls))}" for cls in classes if _unstated(cls)]
    assert not bad, "\n".join(bad)


def test_no_two_classes_share_a_code(classes: list[type[DomainError]]) -> None:
    bad = [f"{code}: {', '.join(_name(cls) for cls in owners)}" for code, owners in _shared(classes).items()]
    assert not bad, "each code means one thing:\n" + "\n".join(bad)


def test_statuses_are_http_error_statuses(classes: list[type[DomainError]]) -> None:
    bad = [f"{_name(cls)}: {cls.status}" for cls in classes if not 400 <= cls.status <= 599]
    assert not bad, "\n".join(bad)


def test_error_classes_live_in_errors_modules(classes: list[type[DomainError]]) -> None:
    bad = [_name(cls) for cls in classes if _outside_errors_module(cls)]
    assert not bad, "each area keeps its DomainErrors in its errors.py:\n" + "\n".join(bad)


def test_docs_table_matches_the_code() -> None:
    path = ROOT / DEFAULT_PATH
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    assert current == render(), f"{DEFAULT_PATH} differs from the code: run `laddnat error-codes`"
