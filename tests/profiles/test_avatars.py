"""Avatars through HTTP: the type read from the bytes, size and pixel caps, re-encoding without
metadata, files kept in step with the database, and serving with caching headers."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from quart.typing import TestClientProtocol

from api.profiles import FORM_OVERHEAD
from domain.config import Settings
from tests.conftest import Stack
from tests.profiles.support import (
    AVATAR_MAX_BYTES,
    Caller,
    image_bytes,
    jpeg_with_exif,
    png_bomb,
    png_of_size,
    real_bomb,
    stored_files,
    upload,
)


def url(user_id: int) -> str:
    return f"/profiles/users/{user_id}/"


async def create_with(c: TestClientProtocol, who: Caller, data: bytes, **kwargs: Any) -> Any:
    return await c.post(
        url(who.id), form={"info": "hi"}, files=upload(data, **kwargs), headers=who.headers
    )


async def fetch(c: TestClientProtocol, avatar_url: str) -> tuple[Any, bytes]:
    response = await c.get(avatar_url)
    return response, await response.get_data(as_text=False)


@pytest.mark.parametrize(
    ("fmt", "ext", "media_type"),
    [("JPEG", "jpg", "image/jpeg"), ("PNG", "png", "image/png"), ("WEBP", "webp", "image/webp")],
)
async def test_each_format_is_stored_and_served(
    profiles_client: TestClientProtocol, owner: Caller, fmt: str, ext: str, media_type: str
) -> None:
    c = profiles_client
    response = await create_with(
        c, owner, image_bytes(fmt), filename="me.gif", content_type="text/plain"
    )
    assert response.status_code == 201, await response.get_data(as_text=True)
    avatar_url = (await response.get_json())["avatar"]
    assert avatar_url.startswith("/media/avatars/") and avatar_url.endswith(f".{ext}")
    assert "me" not in avatar_url.rsplit("/", 1)[1].split(".")[0]  # a name of our choosing
    served, data = await fetch(c, avatar_url)
    assert served.status_code == 200
    assert served.mimetype == media_type
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    cache = served.headers["Cache-Control"]
    assert "max-age=31536000" in cache and "immutable" in cache
    etag = served.headers["ETag"]
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == fmt and image.size == (32, 24)
    again = await c.get(avatar_url, headers={"If-None-Match": etag})
    assert again.status_code == 304


async def test_exif_is_removed(profiles_client: TestClientProtocol, owner: Caller) -> None:
    original = jpeg_with_exif()
    assert b"SecretCam" in original
    response = await create_with(profiles_client, owner, original)
    assert response.status_code == 201
    _, data = await fetch(profiles_client, (await response.get_json())["avatar"])
    assert b"SecretCam" not in data and b"my home address" not in data
    with Image.open(io.BytesIO(data)) as image:
        assert not image.getexif() and "exif" not in image.info


async def test_lying_type_is_judged_by_bytes(
    profiles_client: TestClientProtocol, owner: Caller
) -> None:
    response = await create_with(
        profiles_client, owner, image_bytes("PNG"), filename="cat.jpg", content_type="image/gif"
    )
    assert response.status_code == 201
    assert (await response.get_json())["avatar"].endswith(".png")


@pytest.mark.parametrize(
    ("data", "filename"),
    [
        (b"just some text, not an image\n", "avatar.png"),
        (image_bytes("GIF"), "avatar.gif"),
        (image_bytes("BMP"), "avatar.png"),
        (image_bytes("JPEG", (200, 200))[:600], "avatar.jpg"),  # truncated
        (image_bytes("PNG", (200, 200))[:-30], "avatar.png"),  # truncated
        (b"\xff\xd8\xff" + b"\x00" * 200, "avatar.jpg"),  # JPEG magic, garbage after
        (png_bomb(), "bomb.png"),
        (real_bomb(), "bomb.png"),  # a real 25 MP image: over the default 16.7 MP cap
        (b"", "empty.png"),
    ],
)
async def test_not_an_acceptable_image_is_422(
    profiles_client: TestClientProtocol, owner: Caller, media_root: Path, data: bytes, filename: str
) -> None:
    before = stored_files(media_root)
    response = await create_with(
        profiles_client, owner, data, filename=filename, content_type="image/png"
    )
    assert response.status_code == 422, await response.get_data(as_text=True)
    assert (await response.get_json())["error"] == "invalid_avatar"
    assert stored_files(media_root) == before
    assert (await profiles_client.get(url(owner.id), headers=owner.headers)).status_code == 404


async def test_size_cap(
    profiles_client: TestClientProtocol, owner: Caller, media_root: Path
) -> None:
    c = profiles_client
    png = image_bytes("PNG")
    # Trailing bytes after IEND are ignored by decoders and dropped by the re-encode.
    at_cap = png + b"\x00" * (AVATAR_MAX_BYTES - len(png))
    over_cap = at_cap + b"\x00"
    before = stored_files(media_root)
    too_big = await create_with(c, owner, over_cap)
    assert too_big.status_code == 413 and (await too_big.get_json())["error"] == "avatar_too_large"
    assert stored_files(media_root) == before
    # A body far beyond the cap is refused from its Content-Length, before it is read.
    huge = await c.post(
        url(owner.id),
        data=b"x" * 10,
        headers={
            **owner.headers,
            "Content-Type": "multipart/form-data; boundary=b",
            "Content-Length": str(50 * 1024 * 1024),
        },
    )
    assert huge.status_code == 413
    fits = await create_with(c, owner, at_cap)
    assert fits.status_code == 201
    _, data = await fetch(c, (await fits.get_json())["avatar"])
    assert len(data) < 1000  # the padding is gone


async def test_default_limits_accept_an_avatar_of_exactly_the_cap(
    default_client: TestClientProtocol, stack: Stack, owner: Caller, media_root: Path
) -> None:
    """With the default settings the avatar cap equals the request cap (1 MiB); the form
    around the avatar must not push a legal avatar over the request limit."""
    for name in ("avatar_max_bytes", "max_request_bytes"):
        assert getattr(stack.settings, name) == Settings.model_fields[name].default
    cap = stack.settings.avatar_max_bytes
    at_cap = png_of_size(cap)
    before = stored_files(media_root)
    over = await create_with(default_client, owner, at_cap + b"\x00")
    assert over.status_code == 413, await over.get_data(as_text=True)
    assert (await over.get_json())["error"] == "avatar_too_large"
    assert stored_files(media_root) == before
    fits = await create_with(default_client, owner, at_cap)
    assert fits.status_code == 201, await fits.get_data(as_text=True)
    served, data = await fetch(default_client, (await fits.get_json())["avatar"])
    assert served.status_code == 200 and len(data) < 1000  # the padding chunk is gone
    # Replacing it (PATCH) has the same limit.
    replaced = await default_client.patch(
        url(owner.id), files=upload(at_cap), headers=owner.headers
    )
    assert replaced.status_code == 200, await replaced.get_data(as_text=True)
    refused = await default_client.patch(
        url(owner.id), files=upload(at_cap + b"\x00"), headers=owner.headers
    )
    assert refused.status_code == 413
    assert (await refused.get_json())["error"] == "avatar_too_large"


async def test_a_streamed_upload_is_cut_off_at_the_routes_body_limit(
    default_client: TestClientProtocol, stack: Stack, owner: Caller, media_root: Path
) -> None:
    """Without a Content-Length the avatar route's body limit (AVATAR_MAX_BYTES + the form
    overhead) still holds while the body arrives: the upload is not read to its end."""
    limit = stack.settings.avatar_max_bytes + FORM_OVERHEAD
    head = (
        b'--b\r\nContent-Disposition: form-data; name="avatar"; filename="a.png"\r\n'
        b"Content-Type: image/png\r\n\r\n"
    )
    before = stored_files(media_root)
    headers = {**owner.headers, "Content-Type": "multipart/form-data; boundary=b"}
    async with default_client.request(url(owner.id), method="POST", headers=headers) as conn:
        await conn.send(head)
        chunk = png_of_size(64 * 1024)
        for _ in range(limit // len(chunk) + 2):
            await conn.send(chunk)
        await conn.send(b"\r\n--b--\r\n")
        await conn.send_complete()
    response = await conn.as_response()
    assert response.status_code == 413, (response.headers, await response.get_data(as_text=True))
    assert (await response.get_json())["error"] == "payload_too_large"
    assert stored_files(media_root) == before


async def test_replace_removes_old_file_after_commit(
    profiles_client: TestClientProtocol, owner: Caller, media_root: Path
) -> None:
    c = profiles_client
    first = await create_with(c, owner, image_bytes("JPEG"))
    old_url = (await first.get_json())["avatar"]
    old_name = old_url.rsplit("/", 1)[1]
    assert old_name in stored_files(media_root)
    replaced = await c.patch(
        url(owner.id), files=upload(image_bytes("WEBP")), headers=owner.headers
    )
    assert replaced.status_code == 200
    new_url = (await replaced.get_json())["avatar"]
    assert new_url != old_url and new_url.endswith(".webp")
    assert old_name not in stored_files(media_root)
    assert (await c.get(old_url)).status_code == 404
    assert (await c.get(new_url)).status_code == 200
    # Removing the avatar (JSON null) removes its file too; the other fields stay.
    removed = await c.patch(url(owner.id), json={"avatar": None}, headers=owner.headers)
    out = await removed.get_json()
    assert out["avatar"] is None and out["info"] == "hi"
    assert new_url.rsplit("/", 1)[1] not in stored_files(media_root)
    # A bad upload on PATCH leaves the profile and its files as they were.
    again = await c.patch(url(owner.id), files=upload(image_bytes("PNG")), headers=owner.headers)
    kept = (await again.get_json())["avatar"]
    files = stored_files(media_root)
    bad = await c.patch(url(owner.id), files=upload(b"GIF89a nope"), headers=owner.headers)
    assert bad.status_code == 422
    assert stored_files(media_root) == files
    assert (await (await c.get(url(owner.id), headers=owner.headers)).get_json())["avatar"] == kept


async def test_no_file_left_when_the_database_write_fails(
    profiles_client: TestClientProtocol, owner: Caller, admin_caller: Caller, media_root: Path
) -> None:
    c = profiles_client
    before = stored_files(media_root)
    # The image is fine, the insert is refused (no such user): its file must go too.
    unknown = await c.post(
        url(9_000_000_001), files=upload(image_bytes("PNG")), headers=admin_caller.headers
    )
    assert unknown.status_code == 404
    assert stored_files(media_root) == before
    # A second create loses on the unique user_id: its file must go, the first one stays.
    first = await create_with(c, owner, image_bytes("PNG"))
    kept = (await first.get_json())["avatar"].rsplit("/", 1)[1]
    second = await create_with(c, owner, image_bytes("JPEG"))
    assert second.status_code == 409
    assert stored_files(media_root) == before | {kept}
    # PATCH of a profile that does not exist: 404 and no file.
    nobody = await c.patch(
        url(admin_caller.id), files=upload(image_bytes("PNG")), headers=admin_caller.headers
    )
    assert nobody.status_code == 404
    assert stored_files(media_root) == before | {kept}


@pytest.mark.parametrize(
    "path",
    [
        "/media/avatars/../../../etc/passwd",
        "/media/avatars/..%2F..%2Fetc%2Fpasswd",
        "/media/avatars/%2e%2e%2fREADME.md",
        "/media/avatars/.upload-abc",
        "/media/avatars/" + "0" * 32 + ".png",
        "/media/avatars/" + "0" * 32 + ".svg",
        "/media/avatars/",
        "/media/README.md",
    ],
)
async def test_media_route_serves_only_our_names(
    profiles_client: TestClientProtocol, path: str
) -> None:
    response = await profiles_client.get(path)
    assert response.status_code == 404
