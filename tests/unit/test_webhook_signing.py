"""Webhook signatures as a receiver checks them, and signing secrets sealed at rest."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from app.operators.webhooks.crypto import SealError, seal, unseal
from app.operators.webhooks.outbox import MAX_ATTEMPTS, backoff, camelize
from app.operators.webhooks.signing import new_secret, signature, signature_header, verify

SECRET = "whsec_test-secret-0123456789"
BODY = b'{"id":"3f1c","type":"incident.opened","data":{"identity":"CP-1"}}'
TS = 1_764_000_000


def test_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), f"{TS}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert signature(SECRET, TS, BODY) == expected
    assert signature_header(SECRET, TS, BODY) == f"v1={expected}"


def test_verify_accepts_the_right_signature() -> None:
    assert verify(SECRET, str(TS), BODY, signature_header(SECRET, TS, BODY), 300, now=TS + 299)


def test_verify_accepts_any_of_several_signatures() -> None:
    header = f"v1={'0' * 64} {signature_header(SECRET, TS, BODY)}"
    assert verify(SECRET, TS, BODY, header, 300, now=TS)


def test_verify_refuses_a_tampered_body() -> None:
    header = signature_header(SECRET, TS, BODY)
    assert not verify(SECRET, TS, BODY.replace(b"CP-1", b"CP-2"), header, 300, now=TS)


def test_verify_refuses_a_wrong_secret() -> None:
    header = signature_header("whsec_someone-else", TS, BODY)
    assert not verify(SECRET, TS, BODY, header, 300, now=TS)


def test_verify_refuses_a_stale_or_future_timestamp() -> None:
    header = signature_header(SECRET, TS, BODY)
    assert not verify(SECRET, TS, BODY, header, 300, now=TS + 301)
    assert not verify(SECRET, TS, BODY, header, 300, now=TS - 301)


def test_verify_refuses_a_moved_timestamp_and_junk_headers() -> None:
    header = signature_header(SECRET, TS, BODY)
    assert not verify(SECRET, TS + 1, BODY, header, 300, now=TS)  # the timestamp is signed too
    assert not verify(SECRET, "not-a-number", BODY, header, 300, now=TS)
    assert not verify(SECRET, TS, BODY, header.replace("v1=", "v0="), 300, now=TS)
    assert not verify(SECRET, TS, BODY, "", 300, now=TS)


def test_new_secrets_are_random_and_recognisable() -> None:
    a, b = new_secret(), new_secret()
    assert a != b
    assert a.startswith("whsec_") and len(a) >= 6 + 43  # 32 bytes of URL-safe base64


def test_sealed_secret_round_trips_and_hides_the_secret() -> None:
    key = "k" * 40
    sealed = seal(key, SECRET)
    assert SECRET not in sealed
    assert sealed != seal(key, SECRET)  # a fresh nonce each time
    assert unseal(key, sealed) == SECRET


def test_sealed_secret_refuses_another_key_and_tampering() -> None:
    sealed = seal("k" * 40, SECRET)
    with pytest.raises(SealError):
        unseal("x" * 40, sealed)
    body = bytearray(sealed.encode())
    body[10] = ord("A") if body[10] != ord("A") else ord("B")
    with pytest.raises(SealError):
        unseal("k" * 40, body.decode())


def test_backoff_doubles_from_30_seconds_up_to_a_cap_over_about_a_day() -> None:
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert backoff(30).total_seconds() == 4 * 3600
    span = sum(backoff(n).total_seconds() for n in range(1, MAX_ATTEMPTS))
    assert 20 * 3600 <= span <= 28 * 3600


def test_payload_keys_are_camel_case_all_the_way_down() -> None:
    assert camelize({"incident_id": 1, "nested_list": [{"opened_at": 2}]}) == {
        "incidentId": 1,
        "nestedList": [{"openedAt": 2}],
    }
