"""Callers with their ids, a profiles app with its own media folder, and test images."""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image
from quart.typing import TestClientProtocol
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from domain.db import transaction
from domain.models import User, UserGroup
from tests.api.catalog_support import account
from tests.conftest import Stack
from tests.support import bearer, login

AVATAR_MAX_BYTES = 200_000


@dataclass
class Caller:
    id: int
    headers: dict[str, str]


async def make_caller(client: TestClientProtocol, stack: Stack, group: UserGroup) -> Caller:
    email = await account(client, stack, group)
    async with transaction(stack.sessions) as session:
        user_id = (await session.execute(select(User.id).where(User.email == email))).scalar_one()
    return Caller(user_id, bearer((await login(client, email))["access_token"]))


def stored_files(media_root: Path) -> set[str]:
    folder = media_root / "avatars"
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


def image_bytes(fmt: str, size: tuple[int, int] = (32, 24), **save: Any) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 60)).save(out, format=fmt, **save)
    return out.getvalue()


def jpeg_with_exif() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x9286] = "my home address"  # UserComment (in the main IFD is enough for a reader)
    return image_bytes("JPEG", exif=exif.tobytes())


def png_chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header claims width x height pixels."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def png_of_size(size: int) -> bytes:
    """A valid PNG of exactly `size` bytes: a small image whose padding is a private ancillary
    chunk before IEND (decoders skip it; the re-encode drops it)."""
    png = image_bytes("PNG")
    iend = png[-12:]
    assert iend[4:8] == b"IEND"
    padding = size - len(png) - 12  # a chunk adds length, type and CRC: 12 bytes
    assert padding >= 0
    padded = png[:-12] + png_chunk(b"paDd", b"\x00" * padding) + iend
    assert len(padded) == size
    return padded


def real_bomb(side: int = 5000) -> bytes:
    """A valid PNG of side x side black pixels: small on disk, 25 MB once decoded."""
    out = io.BytesIO()
    Image.new("L", (side, side)).save(out, format="PNG", optimize=True)
    return out.getvalue()


def upload(
    data: bytes, filename: str = "avatar.jpg", content_type: str = "image/jpeg"
) -> dict[str, FileStorage]:
    return {"avatar": FileStorage(io.BytesIO(data), filename=filename, content_type=content_type)}
