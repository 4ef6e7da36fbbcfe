"""Profiles (`/profiles/users/<id>/`) and the avatars they point at (`/media/avatars/<name>`)."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, Field
from quart import Blueprint, Response, request, send_file
from quart_schema import hide, security_scheme, tag_blueprint, validate_response

from api.auth import current_user, require_user
from api.schemas import BEARER, error_responses
from api.services import services
from domain.config import Settings
from domain.errors import InvalidFields, NotFound
from domain.media import MEDIA_TYPES
from domain.models import Gender
from domain.profiles import service
from domain.profiles.errors import AvatarTooLarge, InvalidAvatar
from domain.profiles.rules import ProfileFields, parse_fields
from domain.storage import LocalMediaStorage

bp = Blueprint("profiles", __name__, url_prefix="/profiles")
tag_blueprint(bp, ["profiles"])
media_bp = Blueprint("media", __name__, url_prefix="/media")

AVATAR_URL_PREFIX = "/media/avatars"
# The text fields and multipart headers around the avatar: the avatar routes take a body this
# much larger than AVATAR_MAX_BYTES, whatever MAX_REQUEST_BYTES is (upload_body_limits), so an
# avatar at the cap always fits and one past it is our own 413 `avatar_too_large`.
FORM_OVERHEAD = 64 * 1024
_CHUNK = 64 * 1024
_YEAR = 365 * 24 * 3600


class ProfileOut(BaseModel):
    id: int
    user_id: int
    first_name: str | None
    last_name: str | None
    gender: Gender | None
    date_of_birth: date | None
    age: int | None = Field(description="Whole years today, by the calendar.")
    info: str | None
    avatar: str | None = Field(description="Where the avatar is served, e.g. /media/avatars/….")


def upload_body_limits(settings: Settings) -> dict[str, int]:
    """The body limit of each route that takes an avatar (api/app.py applies it)."""
    limit = settings.avatar_max_bytes + FORM_OVERHEAD
    return {f"{bp.name}.{view}": limit for view in ("create", "update")}


def avatar_storage() -> LocalMediaStorage:
    return LocalMediaStorage(services().settings.media_root / "avatars", AVATAR_URL_PREFIX)


async def _read_capped(stream: Any, cap: int) -> bytes:
    """At most `cap` bytes of the upload, read in chunks; 413 as soon as there are more."""
    parts: list[bytes] = []
    size = 0
    while chunk := stream.read(_CHUNK):
        size += len(chunk)
        if size > cap:
            raise AvatarTooLarge(f"The avatar may be at most {cap} bytes.")
        parts.append(chunk)
    return b"".join(parts)


async def _parse_input() -> tuple[ProfileFields, service.AvatarChange | None]:
    """The text fields (multipart form or JSON) and what to do with the avatar, if anything."""
    cap = services().settings.avatar_max_bytes
    if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        if request.content_length is not None and request.content_length > cap + FORM_OVERHEAD:
            raise AvatarTooLarge(f"The avatar may be at most {cap} bytes.")
        form, files = await request.form, await request.files
        raw: dict[str, Any] = {key: form.get(key) for key in form if key != "avatar"}
        avatar: service.AvatarChange | None = None
        upload = files.get("avatar")
        if upload is not None:
            data = await _read_capped(upload.stream, cap)
            if not data:
                raise InvalidAvatar("The avatar file is empty.")
            avatar = service.AvatarChange(data)
        elif "avatar" in form:
            if form["avatar"].strip():
                raise InvalidAvatar("Send the avatar as a file, or an empty value to remove it.")
            avatar = service.AvatarChange(None)
        return parse_fields(raw), avatar
    if request.content_length == 0 or not await request.get_data():
        return parse_fields({}), None
    body = await request.get_json()
    if not isinstance(body, dict):
        raise InvalidFields("Send a JSON object.")
    avatar = None
    if "avatar" in body:
        if body.pop("avatar") is not None:
            raise InvalidAvatar("Upload the avatar as multipart/form-data; JSON may only clear it.")
        avatar = service.AvatarChange(None)
    return parse_fields(body), avatar


async def _save(user_id: int, *, create: bool) -> dict[str, Any]:
    svc = services()
    fields, avatar = await _parse_input()
    return await service.save(
        svc.sessions,
        avatar_storage(),
        current_user(),
        user_id,
        fields,
        avatar,
        create=create,
        max_pixels=svc.settings.avatar_max_pixels,
    )


@bp.post("/users/<int:user_id>/")
@require_user
@validate_response(ProfileOut, 201)
@error_responses(400, 401, 403, 404, 409, 413, 422, 503)
@security_scheme(BEARER)
async def create(user_id: int) -> tuple[dict[str, Any], int]:
    """Create a profile: the owner or an admin. multipart/form-data (text fields plus an
    optional `avatar` file) or JSON (text fields only). Fields: first_name, last_name, gender,
    date_of_birth, info, avatar.
    404 `user_not_found`, 409 `profile_exists`, 413 `avatar_too_large`, 422 field errors or
    `invalid_avatar`."""
    return await _save(user_id, create=True), 201


@bp.patch("/users/<int:user_id>/")
@require_user
@validate_response(ProfileOut, 200)
@error_responses(400, 401, 403, 404, 413, 422, 503)
@security_scheme(BEARER)
async def update(user_id: int) -> dict[str, Any]:
    """Change only the fields sent; `null` (JSON) or an empty value (form) clears a field,
    `avatar` included. 404 `profile_not_found`."""
    return await _save(user_id, create=False)


@bp.get("/users/<int:user_id>/")
@require_user
@validate_response(ProfileOut, 200)
@error_responses(401, 403, 404, 503)
@security_scheme(BEARER)
async def read(user_id: int) -> dict[str, Any]:
    """The profile: the owner or an admin. 404 `profile_not_found`."""
    svc = services()
    return await service.get(svc.sessions, avatar_storage(), current_user(), user_id)


@media_bp.get("/avatars/<name>")
@hide  # a file, not part of the JSON API (README: API (profiles))
async def avatar_file(name: str) -> Response:
    """An avatar. Names are random and never reused, so the file may be cached for good."""
    path = avatar_storage().open(name)
    if path is None:
        raise NotFound()
    response = await send_file(
        path, mimetype=MEDIA_TYPES[name.rsplit(".", 1)[1]], conditional=True, cache_timeout=_YEAR
    )
    response.cache_control.public = True
    response.cache_control.immutable = True
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'"
    return response
