"""Profile errors.
Each carries an HTTP status and a stable error code (the base classes: domain/errors.py)."""

from __future__ import annotations

from domain.errors import Conflict, DomainError, NotFound


class ProfileNotFound(NotFound):
    code = "profile_not_found"
    default_detail = "Profile with the given user ID was not found."


class ProfileExists(Conflict):
    code = "profile_exists"
    default_detail = "Profile already exists."


class InvalidAvatar(DomainError):
    status = 422
    code = "invalid_avatar"
    default_detail = "The avatar must be a JPEG, PNG or WebP image."


class AvatarTooLarge(DomainError):
    status = 413
    code = "avatar_too_large"
    default_detail = "The avatar is too large."
