"""Chargers' passwords: the hmac-sha256 format, older argon2id hashes, and the rule for new ones."""

from __future__ import annotations

import secrets

import pytest

from app.chargers.errors import PredictableChargerPassword, WeakChargerPassword
from app.chargers.passwords import estimated_bits, meets_the_rule, validate_charger_password
from app.core.security import (
    CHARGER_HASH_PREFIX,
    PasswordHashing,
    charger_hash_is_current,
    hash_charger_password,
    verify_charger_password,
)
from app.demo import DEMO_CHARGERS, NORRSKEN_CHARGERS
from bench.run import PASSWORD as BENCH_PASSWORD
from tests.conftest import TEST_AUTH

SECRET = "Xk3-pQ9z_Lm2vR8w"


def test_new_hash_is_salted_hmac_sha256_and_verifies_only_its_password() -> None:
    hashed = hash_charger_password(SECRET)
    assert hashed.startswith(CHARGER_HASH_PREFIX)
    assert charger_hash_is_current(hashed)
    assert verify_charger_password(hashed, SECRET)
    assert not verify_charger_password(hashed, SECRET[:-1] + "x")
    assert not verify_charger_password(hashed, "")
    # A salt of its own each time: equal passwords do not give equal hashes.
    assert hash_charger_password(SECRET) != hashed


@pytest.mark.parametrize(
    "stored",
    [
        CHARGER_HASH_PREFIX,
        CHARGER_HASH_PREFIX + "only-one-part",
        CHARGER_HASH_PREFIX + "!!!$???",
        CHARGER_HASH_PREFIX + "a$b$c",
        "plain-text-password",
        "",
    ],
)
def test_a_malformed_hash_verifies_nothing(stored: str) -> None:
    assert not verify_charger_password(stored, SECRET)
    assert not verify_charger_password(stored, stored)


def test_an_older_argon2_hash_still_verifies_and_is_due_for_an_upgrade() -> None:
    legacy = PasswordHashing(TEST_AUTH).charger.hash(SECRET)
    assert legacy.startswith("$argon2id$")
    assert not charger_hash_is_current(legacy)
    assert verify_charger_password(legacy, SECRET)
    assert not verify_charger_password(legacy, SECRET + "x")


@pytest.mark.parametrize("password", ["", "short", "fifteen-chars!!", "x" * 41, "Ab1-" * 10 + "Z"])
def test_a_password_outside_16_to_40_characters_is_weak(password: str) -> None:
    with pytest.raises(WeakChargerPassword) as refused:
        validate_charger_password(password)
    assert refused.value.code == "charger.weak_password"
    assert refused.value.extra == {"field": "password"}
    assert f"{len(password)} characters" in refused.value.detail


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("aaaaaaaaaaaaaaaa", "1 distinct characters"),
        ("abababababababababab", "2 distinct characters"),
        ("1234123412341234", "4 distinct characters"),
        ("8301746529183746", "bits"),  # 16 digits: about 53 bits
        ("qwertzuiopasdfgh", "bits"),  # 16 lowercase letters: about 75 bits
        ("9f86d081884c7d65", "about 64 bits"),  # 16 hex digits
        ("9F86D081884C7D65AB", "about 72 bits"),
    ],
)
def test_a_predictable_password_is_refused_with_why(password: str, why: str) -> None:
    with pytest.raises(PredictableChargerPassword) as refused:
        validate_charger_password(password)
    assert refused.value.code == "charger.predictable_password"
    assert refused.value.extra == {"field": "password"}
    assert why in refused.value.detail
    assert not meets_the_rule(password)


def test_random_secrets_and_the_shipped_passwords_meet_the_rule() -> None:
    shipped = [c.password for c in (*DEMO_CHARGERS, *NORRSKEN_CHARGERS)] + [BENCH_PASSWORD]
    generated = [secrets.token_urlsafe(24), secrets.token_hex(20), "A1b2C3d4E5f6G7h8", "9f86d081884c7d65ab01"]
    for password in shipped + generated:
        validate_charger_password(password)
        assert meets_the_rule(password), password


def test_estimated_bits_counts_each_character_class_once() -> None:
    assert round(estimated_bits("0" * 16)) == 53  # digits: 10
    assert round(estimated_bits("a1" * 8)) == 64  # hex digits: 16
    assert round(estimated_bits("g1" * 8)) == 83  # digits + lowercase: 36
    assert round(estimated_bits("aA1!" * 4)) == 105  # + uppercase + symbols: 95
    assert estimated_bits("") == 0
