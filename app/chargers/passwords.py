"""The rule for the passwords chargers get: long, random-looking secrets.

OCPP's security profiles 1 and 2 authenticate a charger with HTTP Basic and a password of
16 to 40 characters (1.6 security whitepaper ``AuthorizationKey``, 2.0.1
``BasicAuthPassword``). They are stored as a salted HMAC-SHA256 (app/core/security.py),
cheap enough to check 19,000 first contacts in a second; that is safe only for passwords
nobody can guess, so besides the length the rule refuses the ones a guesser tries first:
few distinct characters, or too little room for a random choice.
"""

from __future__ import annotations

import math
import string

from app.chargers.errors import PredictableChargerPassword, WeakChargerPassword

MIN_LENGTH, MAX_LENGTH = 16, 40
# "aaaa...", "abab...", "1234123412341234". A random 16-character string of digits and
# lowercase letters has fewer than 6 distinct characters about once in 10^8 draws.
MIN_DISTINCT = 6
# Length x log2(the alphabet its character classes span): 16 lowercase+digit characters
# give 82, 16 hex digits 64, 16 digits 53. At 80 a stolen hash holds out against 10^12
# guesses a second for ~19,000 years on average (docs/ocpp.md).
MIN_ESTIMATED_BITS = 80

_CLASSES = (
    (frozenset(string.digits), 10),
    (frozenset(string.ascii_lowercase), 26),
    (frozenset(string.ascii_uppercase), 26),
)
_OTHER = 33  # printable ASCII punctuation and space; anything else counts as one of them
# A hex string (OCPP 1.6's AuthorizationKey is often one) spans 16 symbols, not 36.
_HEX = (frozenset(string.digits + "abcdef"), frozenset(string.digits + "ABCDEF"))


def estimated_bits(password: str) -> float:
    """An upper bound of the password's entropy: as if each character were drawn at random
    from every character class it uses."""
    used = set(password)
    if used and any(used <= hex_digits for hex_digits in _HEX) and not used <= frozenset(string.digits):
        return len(password) * 4.0
    alphabet = sum(size for chars, size in _CLASSES if used & chars)
    if any(not any(c in chars for chars, _ in _CLASSES) for c in used):
        alphabet += _OTHER
    return len(password) * math.log2(alphabet) if alphabet else 0.0


def validate_charger_password(password: str) -> None:
    """Raise WeakChargerPassword (length) or PredictableChargerPassword if the operator's
    choice is not a password a charger may have."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise WeakChargerPassword(f"{len(password)} characters; use {MIN_LENGTH} to {MAX_LENGTH}", field="password")
    problem = predictability(password)
    if problem is not None:
        raise PredictableChargerPassword(problem, field="password")


def predictability(password: str) -> str | None:
    """Why the password is too easy to guess, or None."""
    distinct = len(set(password))
    if distinct < MIN_DISTINCT:
        return f"{distinct} distinct characters; use at least {MIN_DISTINCT} (a random secret, not a pattern)"
    bits = estimated_bits(password)
    if bits < MIN_ESTIMATED_BITS:
        return (
            f"about {bits:.0f} bits for its length and character classes; at least {MIN_ESTIMATED_BITS}: "
            "make it longer or mix letters, digits and symbols"
        )
    return None


def meets_the_rule(password: str) -> bool:
    """A password the rule would accept today (an older, weaker one keeps its argon2 hash)."""
    return MIN_LENGTH <= len(password) <= MAX_LENGTH and predictability(password) is None
