"""Account errors: tokens, login, activation, password reset.
Each carries an HTTP status and a stable error code (the base classes: domain/errors.py)."""

from __future__ import annotations

from domain.errors import Conflict, DomainError, NotFound


class InvalidToken(DomainError):
    status = 401
    code = "invalid_token"
    default_detail = "The token is invalid."


class TokenExpired(DomainError):
    status = 401
    code = "token_expired"
    default_detail = "The token has expired."


class TokenRevoked(DomainError):
    status = 401
    code = "token_revoked"
    default_detail = "The token has been revoked."


class RefreshTokenReused(DomainError):
    status = 401
    code = "refresh_token_reused"
    commit_before_raise = True
    default_detail = "This refresh token was already used; all sessions of this login were revoked."


class InvalidCredentials(DomainError):
    status = 401
    code = "invalid_credentials"
    default_detail = "Invalid email or password."


class AccountNotActivated(DomainError):
    status = 403
    code = "account_not_activated"
    default_detail = "Your account is not activated."


class InactiveUser(DomainError):
    status = 401
    code = "inactive_user"
    default_detail = "This account is not active."


class InvalidActivationToken(DomainError):
    status = 400
    code = "invalid_activation_token"
    default_detail = "The activation link is invalid or has expired."


class UserNotFound(NotFound):
    code = "user_not_found"
    default_detail = "User not found."


class InvalidResetToken(DomainError):
    status = 400
    code = "invalid_reset_token"
    default_detail = "The reset link is invalid, used or expired. Ask for a new one."


class PasswordUnchanged(Conflict):
    code = "password_unchanged"
    default_detail = "The new password must differ from the current one."


class WrongPassword(DomainError):
    status = 400
    code = "wrong_password"
    default_detail = "The current password is not correct."
