"""Pagination shared by every list: query parameters, the envelope, and links that keep every
filter and the sort (built on PUBLIC_BASE_URL, never on the request's Host)."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlencode

from pydantic import BaseModel, Field
from quart import request

from api.schemas import Strict
from api.services import services

MAX_PER_PAGE = 100


class PageQuery(Strict):
    page: int = Field(default=1, ge=1, le=1_000_000)
    per_page: int = Field(default=20, ge=1, le=MAX_PER_PAGE)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


class PageLinks(BaseModel):
    prev_page: str | None = Field(description="Absolute URL of the previous page, or null.")
    next_page: str | None = Field(description="Absolute URL of the next page, or null.")
    total_pages: int
    total_items: int


def _link(page: int, per_page: int) -> str:
    args: list[tuple[str, str]] = [
        (k, v) for k, v in request.args.items(multi=True) if k not in ("page", "per_page")
    ]
    args += [("page", str(page)), ("per_page", str(per_page))]
    base = services().settings.public_base_url.rstrip("/")
    return f"{base}{request.path}?{urlencode(args)}"


def page_links(query: PageQuery, total_items: int) -> dict[str, Any]:
    total_pages = math.ceil(total_items / query.per_page)
    page = query.page
    return {
        # A page past the end is an empty list with no links at all.
        "prev_page": _link(page - 1, query.per_page) if 1 < page <= total_pages else None,
        "next_page": _link(page + 1, query.per_page) if page < total_pages else None,
        "total_pages": total_pages,
        "total_items": total_items,
    }
