"""Email rendering: Jinja2 templates with an HTML and a plain-text part for every message."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

SUBJECTS = {
    "activation": "Activate your Online Cinema account",
    "activation_confirmation": "Your Online Cinema account is active",
    "account_exists": "Someone tried to register with your email",
    "password_changed": "Your Online Cinema password was changed",
    "refund_succeeded": "Your Online Cinema refund is done",
    "refund_failed": "Your Online Cinema refund could not be completed",
    "refund_late_payment": "We have returned your late payment",
    "receipt": "Your Online Cinema receipt",
}


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


class EmailRenderer:
    def __init__(self, public_base_url: str) -> None:
        self._base = public_base_url.rstrip("/")
        self._env = Environment(
            loader=PackageLoader("domain.email", "templates"),
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
            undefined=StrictUndefined,
            keep_trailing_newline=True,
        )

    def link(self, path: str, **query: str) -> str:
        """An absolute link from PUBLIC_BASE_URL (never the request's Host), query URL-encoded."""
        url = f"{self._base}/{path.lstrip('/')}"
        return f"{url}?{urlencode(query)}" if query else url

    def render(self, template: str, **context: Any) -> RenderedEmail:
        subject = SUBJECTS[template]
        context = {"subject": subject, "year": datetime.now(UTC).year, **context}
        return RenderedEmail(
            subject=subject,
            text=self._env.get_template(f"{template}.txt").render(context),
            html=self._env.get_template(f"{template}.html").render(context),
        )


def build_message(rendered: RenderedEmail, sender: str, recipient: str) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = rendered.subject
    message["From"] = sender
    message["To"] = recipient
    message["Message-ID"] = make_msgid(domain="cinema.local")
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message
