"""Where uploaded media live: a small interface, and a local-folder implementation of it.

Keys are names of our choosing (random hex plus an extension we picked from the bytes); a key
from outside (a URL path) is only used after it matched that shape, so it can never name a file
outside the folder."""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from pathlib import Path
from typing import Protocol

KEY_PATTERN = re.compile(r"^[0-9a-f]{32}\.(jpg|png|webp)$")


class MediaStorage(Protocol):
    """What the profiles need from a store of files; an object store can implement it too."""

    def save(self, data: bytes, ext: str) -> str:
        """Store `data` under a new random key ending in `.ext`; the key."""

    def open(self, key: str) -> Path | None:
        """The local file of `key`, or None when the key is malformed or absent."""

    def url(self, key: str) -> str:
        """The path clients fetch the file at."""

    def delete(self, key: str) -> None:
        """Remove `key`; a missing file is not an error."""


class LocalMediaStorage:
    def __init__(self, root: Path, url_prefix: str) -> None:
        self.root = root
        self.url_prefix = url_prefix.rstrip("/")

    def save(self, data: bytes, ext: str) -> str:
        key = f"{secrets.token_hex(16)}.{ext}"
        if not KEY_PATTERN.fullmatch(key):
            raise ValueError("unsupported extension")
        self.root.mkdir(parents=True, exist_ok=True)
        # Written to a temporary file in the same folder, then renamed: a reader sees the
        # whole file or none.
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, self.root / key)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return key

    def open(self, key: str) -> Path | None:
        if not KEY_PATTERN.fullmatch(key):
            return None
        path = self.root / key
        return path if path.is_file() else None

    def url(self, key: str) -> str:
        return f"{self.url_prefix}/{key}"

    def delete(self, key: str) -> None:
        if KEY_PATTERN.fullmatch(key):
            (self.root / key).unlink(missing_ok=True)
