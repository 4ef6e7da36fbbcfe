"""Small HTML pages behind the emailed links (activation, password reset).

Opening a link only shows a page: nothing changes until its button POSTs (JSON, to the same
endpoint an API client uses), so a mail scanner that fetches every link changes nothing. The
page never fails: unknown query parameters (`utm_*` from mail gateways) are ignored, and a
missing or malformed token shows a page that says so.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from quart import Response, request

from domain.accounts.rules import EMAIL_MAX_LENGTH

_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,128}")
_env = Environment(
    loader=PackageLoader("api", "templates"),
    autoescape=select_autoescape(default=True),
    undefined=StrictUndefined,
)


def link_params() -> tuple[str, str]:
    """(token, email) of the opened link; a malformed value is dropped, never a 4xx."""
    token = request.args.get("token", "")
    email = request.args.get("email", "")
    if not _TOKEN.fullmatch(token):
        token = ""
    if len(email) > EMAIL_MAX_LENGTH or "@" not in email:
        email = ""
    return token, email


def render_page(template: str, **context: Any) -> Response:
    """The page, with headers fit for a URL that carries a secret: not cached, not sent on as
    a Referer, not framed, and only its own (nonce-tagged) script and style run."""
    nonce = secrets.token_urlsafe(16)
    body = _env.get_template(template).render(nonce=nonce, **context)
    response = Response(body, status=200, content_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    return response
