"""Response hardening: security headers on every answer, no-store on tokens, a docs-page CSP,
and routing redirects whose Location never echoes the request's Host header."""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import urlsplit, urlunsplit

from quart import Quart, Response, request

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
# Paths whose answers carry tokens: never stored by a browser or a proxy.
TOKEN_PATHS = frozenset({"/accounts/login/", "/accounts/refresh/"})
DOCS_PATH = "/docs"
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


def docs_csp(html: bytes) -> str:
    """Only our own assets, plus exactly the page's inline bootstrap script (by hash)."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(body).digest()).decode()}'"
        for body in _INLINE_SCRIPT.findall(html)
    )
    return (
        f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'; form-action 'self'"
    )


def _relative_location(location: str) -> str:
    """Routing redirects (trailing slash) are built from the Host header: keep only the path."""
    parts = urlsplit(location)
    if parts.netloc and parts.netloc == request.host:
        return urlunsplit(("", "", parts.path or "/", parts.query, parts.fragment))
    return location


def register_hardening(app: Quart) -> None:
    @app.after_request
    async def harden(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.path in TOKEN_PATHS:
            response.headers["Cache-Control"] = "no-store"
            response.headers["Pragma"] = "no-cache"
        if response.status_code in _REDIRECTS and "Location" in response.headers:
            response.headers["Location"] = _relative_location(response.headers["Location"])
        if request.path == DOCS_PATH and response.status_code == 200:
            html = await response.get_data(as_text=False)
            response.headers["Content-Security-Policy"] = docs_csp(html)
        return response
