"""Password hashing and JWTs: only our own tokens, with the algorithm pinned, pass."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from app.core.security import (
    JWT_ALGORITHM,
    PasswordHashing,
    TokenError,
    configure_password_hashing,
    decode_token,
    dummy_user_hash,
    hash_charger_password,
    hash_user_password,
    issue_access_token,
    issue_refresh_token,
    verify_charger_password,
    verify_user_password,
)
from app.core.settings import AuthSettings
from tests.conftest import TEST_AUTH

AUTH = AuthSettings(secret_key="unit-test-secret-key-0123456789abcdef-0123456789abcdef-0123456789")
USER = uuid.UUID("6a0f6f0e-8d52-4c8e-9a53-0c3c4a3f6b11")


def claims(**overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    base: dict[str, Any] = {
        "sub": str(USER),
        "role": "operator",
        "iss": AUTH.issuer,
        "aud": AUTH.audience,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=5)).timestamp()),
        "typ": "access",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def test_user_password_verifies_only_itself() -> None:
    hashed = hash_user_password("correct horse battery")
    assert hashed.startswith("$argon2id$")
    assert verify_user_password(hashed, "correct horse battery")
    assert not verify_user_password(hashed, "correct horse battery!")
    assert not verify_user_password("not-a-hash", "correct horse battery")
    assert not verify_user_password(dummy_user_hash(), "correct horse battery")


def test_charger_password_verifies_only_itself() -> None:
    hashed = hash_charger_password("charger-password-0123")
    assert verify_charger_password(hashed, "charger-password-0123")
    assert not verify_charger_password(hashed, "charger-password-0124")


def test_production_hashes_users_at_the_library_cost_and_chargers_lightly() -> None:
    hashing = PasswordHashing(AuthSettings())
    assert hashing.user.hash("correct horse battery").startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert hashing.charger.hash("charger-password-0123").startswith("$argon2id$v=19$m=2048,t=1,p=1$")


def test_the_cost_is_a_setting_and_older_hashes_still_verify() -> None:
    strong = PasswordHashing(AuthSettings()).user.hash("correct horse battery")
    light = AuthSettings(password_time_cost=1, password_memory_kib=64, charger_password_memory_kib=16)
    try:
        configure_password_hashing(light)
        assert hash_user_password("correct horse battery").startswith("$argon2id$v=19$m=64,t=1,p=4$")
        # The charger hasher only verifies older hashes now (hash_charger_password makes hmac-sha256).
        assert PasswordHashing(light).charger.hash("charger-password-0123").startswith("$argon2id$v=19$m=16,t=1,p=1$")
        assert dummy_user_hash().startswith("$argon2id$v=19$m=64,t=1,p=4$")
        assert verify_user_password(strong, "correct horse battery")
    finally:
        configure_password_hashing(TEST_AUTH)


def test_access_token_round_trips_its_claims() -> None:
    token, ttl = issue_access_token(AUTH, subject=USER, role="driver")
    decoded = decode_token(AUTH, token, expected_type="access")
    assert (decoded["sub"], decoded["role"], decoded["typ"]) == (str(USER), "driver", "access")
    assert decoded["exp"] - decoded["iat"] == ttl == AUTH.access_token_ttl_s
    assert jwt.get_unverified_header(token)["alg"] == JWT_ALGORITHM == "HS256"


def test_refresh_token_is_not_an_access_token_and_vice_versa() -> None:
    now = datetime.now(UTC)
    refresh = issue_refresh_token(
        AUTH, subject=USER, token_id=uuid.uuid4(), expires_at=now + timedelta(days=1), now=now
    )
    access, _ = issue_access_token(AUTH, subject=USER, role="driver")
    assert decode_token(AUTH, refresh, expected_type="refresh")["jti"]
    with pytest.raises(TokenError):
        decode_token(AUTH, refresh, expected_type="access")
    with pytest.raises(TokenError):
        decode_token(AUTH, access, expected_type="refresh")


def test_expired_token_is_rejected() -> None:
    token, _ = issue_access_token(AUTH, subject=USER, role="driver", now=datetime.now(UTC) - timedelta(hours=1))
    with pytest.raises(TokenError, match="expired"):
        decode_token(AUTH, token, expected_type="access")


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(jwt.encode(claims(), None, algorithm="none"), id="alg-none"),  # type: ignore[arg-type]
        pytest.param(jwt.encode(claims(), "another-key-" + "x" * 60, algorithm="HS256"), id="other-key"),
        pytest.param(jwt.encode(claims(), AUTH.secret_key, algorithm="HS512"), id="other-hmac-alg"),
        pytest.param(jwt.encode(claims(aud="other-api"), AUTH.secret_key, algorithm="HS256"), id="aud"),
        pytest.param(jwt.encode(claims(iss="other-issuer"), AUTH.secret_key, algorithm="HS256"), id="iss"),
        pytest.param(jwt.encode(claims(exp=None), AUTH.secret_key, algorithm="HS256"), id="no-exp"),
        pytest.param(jwt.encode(claims(iat=None), AUTH.secret_key, algorithm="HS256"), id="no-iat"),
        pytest.param(jwt.encode(claims(sub=None), AUTH.secret_key, algorithm="HS256"), id="no-sub"),
        pytest.param(jwt.encode(claims(typ=None), AUTH.secret_key, algorithm="HS256"), id="no-typ"),
        pytest.param("not.a.jwt", id="garbage"),
        pytest.param("", id="empty"),
    ],
)
def test_tokens_that_are_not_ours_are_rejected(token: str) -> None:
    with pytest.raises(TokenError):
        decode_token(AUTH, token, expected_type="access")


def test_the_same_claims_properly_signed_pass() -> None:
    token = jwt.encode(claims(), AUTH.secret_key, algorithm="HS256")
    assert decode_token(AUTH, token, expected_type="access")["sub"] == str(USER)
