"""HTTP caching of the public catalog, and the rendered pages kept under the catalog version.

Every successful GET under /movies/ carries a strong ETag of its body, a conditional GET with a
matching If-None-Match is answered 304 with no body, and Cache-Control lets a shared cache (a
CDN) serve an anonymous page for a few seconds while browsers revalidate every time, so a write
is visible to the next request that reaches the API. Responses to a caller who sent a token
(staff see archived movies) are private.

Anonymous catalog GETs are also answered from rendered pages kept in this process
(`PageCache`), under the catalog version: a number that every committed write to a catalog
table raises in the writing transaction (database triggers, so the API, `cinema import-movies`,
`cinema seed-demo` and plain SQL all count). Each such request reads the version (one prepared
statement, no transaction) and is served from the page rendered under that version, or
rendered as usual and kept. Whoever reads the new version sees the write, so a write is
visible to the very next request, in every process. Measured in docs/benchmarks.md: a page of
20 movies costs ~5 ms of CPU to render and ~0.5 ms to serve from here.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

from quart import Quart, Response, g, request

from api.services import services
from domain.catalog import repository as catalog_repo

CATALOG_PREFIX = "/movies/"
SHARED_CACHE_SECONDS = 5
PUBLIC = f"public, max-age=0, s-maxage={SHARED_CACHE_SECONDS}, must-revalidate"
PRIVATE = "private, no-cache"
PAGE_CACHE_KEY = "catalog_pages"
PAGE_CACHE_BYTES = 16 * 1024 * 1024  # per API process


@dataclass(frozen=True, slots=True)
class Page:
    body: bytes
    etag: str
    content_type: str


class PageCache:
    """Rendered pages of one catalog version, least recently used first out, bounded in bytes.

    A newer version empties it (nothing older can be served again); a page rendered under an
    older version than the current one (a request that read the version just before a write)
    is not kept.
    """

    def __init__(self, max_bytes: int = PAGE_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self.version = -1
        self.pages: OrderedDict[str, Page] = OrderedDict()
        self.size = 0

    def get(self, version: int, key: str) -> Page | None:
        if version != self.version:
            return None
        page = self.pages.get(key)
        if page is not None:
            self.pages.move_to_end(key)
        return page

    def put(self, version: int, key: str, page: Page) -> None:
        if version < self.version or len(page.body) > self.max_bytes // 16:
            return
        if version > self.version:
            self.pages.clear()
            self.size = 0
            self.version = version
        old = self.pages.pop(key, None)
        if old is not None:
            self.size -= len(old.body)
        self.pages[key] = page
        self.size += len(page.body)
        while self.size > self.max_bytes:
            _, evicted = self.pages.popitem(last=False)
            self.size -= len(evicted.body)


def _cacheable(response: Response, etag: str, private: bool) -> Response:
    response.set_etag(etag)
    response.headers["Cache-Control"] = PRIVATE if private else PUBLIC
    response.vary.add("Authorization")
    if request.if_none_match.contains(etag):
        not_modified = Response(status=304)
        for header in ("ETag", "Cache-Control", "Vary"):
            not_modified.headers[header] = response.headers[header]
        return not_modified
    return response


def register_catalog_caching(app: Quart) -> None:
    pages = PageCache()
    app.extensions[PAGE_CACHE_KEY] = pages

    @app.before_request
    async def serve_rendered_catalog_page() -> Response | None:
        if (
            request.method != "GET"
            or not request.path.startswith(CATALOG_PREFIX)
            or "Authorization" in request.headers
        ):
            return None
        async with services().autocommit.connect() as conn:  # one statement: no BEGIN/COMMIT
            version = await catalog_repo.catalog_version(conn)
        key = f"{request.path}?{request.query_string.decode('latin-1')}"
        page = pages.get(version, key)
        if page is None:
            g.catalog_page = (version, key)  # rendered as usual, kept by the hook below
            return None
        g.catalog_page_served = True
        response = Response(page.body, status=200, content_type=page.content_type)
        return _cacheable(response, page.etag, private=False)

    @app.after_request
    async def conditional_catalog_get(response: Response) -> Response:
        if (
            g.get("catalog_page_served")
            or request.method not in ("GET", "HEAD")
            or response.status_code != 200
            or not request.path.startswith(CATALOG_PREFIX)
        ):
            return response
        body = await response.get_data(as_text=False)
        etag = hashlib.blake2b(body, digest_size=16).hexdigest()
        rendered: tuple[int, str] | None = g.get("catalog_page")
        if rendered is not None:
            version, key = rendered
            pages.put(version, key, Page(body, etag, response.content_type or ""))
        return _cacheable(response, etag, private="Authorization" in request.headers)
