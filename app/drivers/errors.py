"""Errors of accounts, authentication and id tokens; each code is public API."""

from __future__ import annotations

from app.core.errors import Conflict, DomainError, InvalidInput, NotFound

# -- authentication (the bearer guard's own errors are app/core/auth.py's) ---------------


class InvalidCredentials(DomainError):
    code = "auth.invalid_credentials"
    status = 401
    title = "Wrong email or password"


class RefreshTokenReused(DomainError):
    """A spent refresh token came back: someone holds a copy, so its family is revoked."""

    code = "auth.refresh_reused"
    status = 401
    title = "The refresh token was already used; sign in again"


class LoginRateLimited(DomainError):
    """Too many failed sign-ins for this account from this address (back-off), or from
    this address over all accounts; ``retry_after_s`` (also sent as Retry-After) says when
    to try again."""

    code = "auth.rate_limited"
    status = 429
    title = "Too many failed attempts; try again later"


class SignUpRateLimited(LoginRateLimited):
    """Too many sign-ups from this address; ``retry_after_s`` (also sent as Retry-After)
    says when the window ends."""

    code = "auth.signup_rate_limited"
    status = 429
    title = "Too many sign-ups from this address; try again later"


class InvalidVerification(DomainError):
    """The sign-up link is unknown, expired, already used, or the password is not the one
    chosen at sign-up (one answer for all, so it tells nothing about the account)."""

    code = "auth.invalid_verification"
    status = 400
    title = "The verification link or the password is not valid"


class WrongPassword(DomainError):
    """The current password given to change it is wrong (403, not 401: the access token
    is fine, and a client must not take this for "refresh and retry")."""

    code = "auth.wrong_password"
    status = 403
    title = "The current password is wrong"


# -- users -----------------------------------------------------------------------------


class UserNotFound(NotFound):
    code = "user.not_found"
    status = 404
    title = "No such user"


class UserAlreadyExists(Conflict):
    code = "user.already_exists"
    status = 409
    title = "A user with this email already exists"


class InvalidEmail(InvalidInput):
    code = "user.invalid_email"
    status = 422
    title = "The email address is not valid"


class InvalidRole(InvalidInput):
    code = "user.invalid_role"
    status = 422
    title = "The role must be operator or driver"


class WeakPassword(InvalidInput):
    code = "user.weak_password"
    status = 422
    title = "Passwords are at least 10 characters"


class PasswordIsEmail(InvalidInput):
    code = "user.password_is_email"
    status = 422
    title = "The password must not be the email address"


class PasswordTooLong(InvalidInput):
    code = "user.password_too_long"
    status = 422
    title = "Passwords are at most 1024 characters"


# -- id tokens -------------------------------------------------------------------------


class InvalidIdToken(InvalidInput):
    code = "id_token.invalid"
    status = 422
    title = "The id token is not valid"


class IdTokenAlreadyExists(Conflict):
    code = "id_token.already_exists"
    status = 409
    title = "This id token is already registered"


class IdTokenNotFound(NotFound):
    code = "id_token.not_found"
    status = 404
    title = "No such id token"


class IdTokenTaken(Conflict):
    code = "id_token.taken"
    status = 409
    title = "This id token belongs to another account"


class IdTokenOperatorCard(Conflict):
    """The card is an operator's (its fleet or its own customers): a driver cannot link it
    by its number; the operator assigns it to the driver."""

    code = "id_token.operator_card"
    status = 409
    title = "This card is registered by an operator; ask the operator to assign it to you"


# -- saved payment methods --------------------------------------------------------------


class PaymentMethodNotFound(NotFound):
    """No such saved card, or another driver's: when deleting it and when a session names it."""

    code = "payment_method.not_found"
    status = 404
    title = "No such saved payment method"
