"""What an account's email and password must be."""

from __future__ import annotations

import re

from app.drivers.errors import InvalidEmail, PasswordIsEmail, PasswordTooLong, WeakPassword

MIN_PASSWORD_LENGTH = 10
# argon2 hashes whatever it is given; a cap keeps a megabyte "password" from costing us.
MAX_PASSWORD_LENGTH = 1024
# Deliberately loose: the only real check of an address is a mail that arrives.
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
MAX_EMAIL_LENGTH = 254


def normalize_email(email: str) -> str:
    normalized = email.strip().lower()
    if len(normalized) > MAX_EMAIL_LENGTH or not EMAIL_PATTERN.fullmatch(normalized):
        raise InvalidEmail(f"{email!r} is not an email address", field="email")
    return normalized


def validate_password(password: str, email: str | None = None, *, field: str = "password") -> None:
    """At least 10 characters, at most 1024, and not the account's (normalised) email."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(field=field)
    if len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordTooLong(field=field)
    if email is not None and password.strip().lower() == email:
        raise PasswordIsEmail(field=field)
