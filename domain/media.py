"""Avatar images: the format read from the bytes, the image decoded with a pixel cap and
re-encoded, so nothing of the upload but its pixels is kept (no EXIF, no comments, no trailing
data). CPU-bound: callers run `normalise_avatar` in a thread."""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps

from domain.profiles.errors import InvalidAvatar

# The formats we accept, by their magic bytes; the client's filename and content type are ignored.
_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
MEDIA_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


def sniff(data: bytes) -> str | None:
    """The Pillow format name of `data` from its first bytes, if it is one we accept."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def normalise_avatar(data: bytes, max_pixels: int) -> tuple[bytes, str]:
    """The re-encoded image and its extension; InvalidAvatar (422) for anything else."""
    fmt = sniff(data)
    if fmt is None:
        raise InvalidAvatar("The avatar must be a JPEG, PNG or WebP image.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[fmt]) as opened:
                width, height = opened.size
                # Checked from the header, before a single pixel is decoded.
                if width * height > max_pixels:
                    raise InvalidAvatar("The avatar has too many pixels.")
                opened.load()  # a truncated or corrupt file fails here
                image: Image.Image = ImageOps.exif_transpose(opened)
                if image.mode not in ("RGB", "RGBA", "L", "LA"):
                    image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
                if fmt == "JPEG" and image.mode not in ("RGB", "L"):
                    image = image.convert("RGB")
                out = io.BytesIO()
                # A fresh save carries only the pixels: no EXIF, ICC, XMP or comments.
                image.save(out, format=fmt)
    except InvalidAvatar:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Warning):
        raise InvalidAvatar("The avatar is not a valid image.") from None
    return out.getvalue(), _FORMATS[fmt]
