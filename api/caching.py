"""HTTP caching of the public catalog: every successful GET under /movies/ carries a strong
ETag of its body, a conditional GET with a matching If-None-Match is answered 304 with no body,
and Cache-Control lets a shared cache (a CDN) serve an anonymous page for a few seconds while
browsers revalidate every time, so a write is visible to the next request that reaches the API.
Responses to a caller who sent a token (staff see archived movies) are private."""

from __future__ import annotations

import hashlib

from quart import Quart, Response, request

CATALOG_PREFIX = "/movies/"
SHARED_CACHE_SECONDS = 5
PUBLIC = f"public, max-age=0, s-maxage={SHARED_CACHE_SECONDS}, must-revalidate"
PRIVATE = "private, no-cache"


def register_catalog_caching(app: Quart) -> None:
    @app.after_request
    async def conditional_catalog_get(response: Response) -> Response:
        if (
            request.method not in ("GET", "HEAD")
            or response.status_code != 200
            or not request.path.startswith(CATALOG_PREFIX)
        ):
            return response
        body = await response.get_data(as_text=False)
        etag = hashlib.blake2b(body, digest_size=16).hexdigest()
        response.set_etag(etag)
        response.headers["Cache-Control"] = (
            PRIVATE if "Authorization" in request.headers else PUBLIC
        )
        response.vary.add("Authorization")
        if request.if_none_match.contains(etag):
            not_modified = Response(status=304)
            for header in ("ETag", "Cache-Control", "Vary"):
                not_modified.headers[header] = response.headers[header]
            return not_modified
        return response
