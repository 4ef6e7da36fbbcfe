"""HTTP caching of the public catalog, and the rendered pages kept under the catalog version.

Every successful GET under /movies/ carries a strong ETag of its body, a conditional GET with a
matching If-None-Match is answered 304 with no body, and Cache-Control lets a shared cache (a
CDN) serve an anonymous page for a few seconds while browsers revalidate every time, so a write
is visible to the next request that reaches the API. Responses to a caller who sent a token
(staff see archived movies) are private.

Anonymous catalog GETs are also answered from rendered pages kept in this process
(`PageCache`), under the catalog version: a number that every committed write to a catalog
table raises in the writing transaction (database triggers, so the API, `cinema import-movies`,
`cinema seed-demo` and plain SQL all count). Each such request learns the current version from
a read that Postgres runs after the request arrived (`VersionReads`: concurrent requests share
one), and is served from the page rendered under that version, or rendered as usual and kept.
Whoever reads the new version sees the write, so a write is visible to the very next request,
in every process. docs/benchmarks.md has the measurements (a page of 20 movies: ~5 ms of CPU to
render, ~0.4 ms to serve from here) and why the pages are not kept in Redis.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from quart import Quart, Response, g, request

from api.services import EXTENSION_KEY, Services
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


class VersionReads:
    """The catalog version for many concurrent requests from one statement at a time.

    A request never takes the answer of a read that was already sent when it arrived (that
    read may predate a write the caller has seen committed): it waits for the next read, which
    starts after it arrived, so it sees every write committed before it. Under load many
    requests share one read; alone, a request waits for at most one read in flight.
    """

    def __init__(self, read: Callable[[], Awaitable[int]]) -> None:
        self._read = read
        self._next: asyncio.Future[int] | None = None  # the read that has not started yet
        self._pump: asyncio.Task[None] | None = None

    async def current(self) -> int:
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
        waiting = self._next
        if self._pump is None or self._pump.done():
            self._pump = asyncio.create_task(self._reads())
        # shield: a caller that goes away must not cancel the read the others wait for
        return await asyncio.shield(waiting)

    async def _reads(self) -> None:
        while self._next is not None:
            batch, self._next = self._next, None  # later arrivals wait for the next read
            try:
                version = await self._read()
            except asyncio.CancelledError:  # the loop is shutting down: nobody may hang
                batch.cancel()
                raise
            except Exception as exc:
                batch.set_exception(exc)
                batch.exception()  # retrieved: every waiter gets it (or has gone away)
            else:
                batch.set_result(version)


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

    async def read_version() -> int:
        svc: Services = app.extensions[EXTENSION_KEY]
        async with svc.autocommit.connect() as conn:  # one statement: no BEGIN/COMMIT
            return await catalog_repo.catalog_version(conn)

    versions = VersionReads(read_version)

    @app.before_request
    async def serve_rendered_catalog_page() -> Response | None:
        if (
            request.method != "GET"
            or not request.path.startswith(CATALOG_PREFIX)
            or "Authorization" in request.headers
        ):
            return None
        version = await versions.current()
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
