"""Helpers the tests share: reading the mail sink, and walking users through the API."""

from __future__ import annotations

import html
import re
import secrets
import uuid
import weakref
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, urlsplit

from quart.typing import TestClientProtocol

from devstack.smtp_sink import MailSink
from domain.config import Settings
from domain.email.mailer import Mailer

PASSWORD = "Sup3r$ecret"
LINK = re.compile(r"https?://\S+/accounts/activate/\?\S+")
RESET_LINK = re.compile(r"https?://\S+/accounts/reset-password/\?\S+")


def mailer_for(sink: MailSink) -> Mailer:
    """A real Mailer that delivers to `sink` (settings from these values alone)."""
    return Mailer(
        Settings.model_validate(
            {
                "environment": "test",
                "smtp_host": sink.host,
                "smtp_port": sink.port,
                "jwt_secret": secrets.token_urlsafe(48),
                "stripe_api_key": f"sk_test_{secrets.token_hex(12)}",
                "stripe_webhook_secret": f"whsec_{secrets.token_hex(12)}",
            }
        )
    )


def new_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None, "every email has a plain-text part"
    return str(part.get_content())


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None, "every email has an HTML part"
    return str(part.get_content())


# Parsing an address header costs about a millisecond; waits poll every 20 ms over every mail
# the session received (thousands by the end of the suite), so each message is parsed once.
_HEADERS: weakref.WeakKeyDictionary[EmailMessage, tuple[str, str]] = weakref.WeakKeyDictionary()


def _to_and_subject(message: EmailMessage) -> tuple[str, str]:
    found = _HEADERS.get(message)
    if found is None:
        found = (str(message["To"]).strip().lower(), str(message["Subject"]))
        _HEADERS[message] = found
    return found


def to_address(message: EmailMessage) -> str:
    return _to_and_subject(message)[0]


async def wait_for_mail(
    sink: MailSink, to: str, subject_contains: str, *, count: int = 1, timeout: float = 30.0
) -> list[EmailMessage]:
    """Wait until `count` emails with that subject have reached `to`; return them, oldest first."""

    def matching() -> list[EmailMessage]:
        return [
            m
            for m in sink.messages
            if _to_and_subject(m)[0] == to.lower() and subject_contains in _to_and_subject(m)[1]
        ]

    await sink.wait_for(lambda _msgs: len(matching()) >= count, timeout=timeout)
    return matching()


def mails_to(sink: MailSink, to: str) -> list[EmailMessage]:
    return [m for m in sink.messages if to_address(m) == to.lower()]


def activation_link(message: EmailMessage) -> str:
    match = LINK.search(text_of(message))
    assert match, "the activation email carries a link"
    return match.group(0)


def reset_link(message: EmailMessage) -> str:
    match = RESET_LINK.search(text_of(message))
    assert match, "the reset email carries a link"
    return match.group(0)


def link_query(link: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}


def path_of(link: str) -> str:
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


def page_form(page: str) -> tuple[str, dict[str, str]]:
    """What a link page's button sends: the endpoint its script POSTs to, and its hidden fields."""
    endpoint = re.search(r'data-endpoint="([^"]+)"', page)
    assert endpoint, "the page has a form that POSTs"
    hidden = re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page)
    return html.unescape(endpoint.group(1)), {k: html.unescape(v) for k, v in hidden}


async def follow_link(client: TestClientProtocol, link: str, **fields: str) -> Any:
    """Open an emailed link's page and press its button (with `fields` typed in), as a browser
    does; return the answer to the button's POST."""
    page = await client.get(path_of(link))
    assert page.status_code == 200, await page.get_data(as_text=True)
    endpoint, hidden = page_form(await page.get_data(as_text=True))
    return await client.post(endpoint, json={**hidden, **fields})


async def activate_link(client: TestClientProtocol, link: str) -> Any:
    """POST the emailed activation link's token (and email) to /accounts/activate/, as a front
    end does: opening the link itself only shows a page."""
    return await client.post("/accounts/activate/", json=link_query(link))


async def register(client: TestClientProtocol, email: str, password: str = PASSWORD) -> Any:
    response = await client.post("/accounts/register/", json={"email": email, "password": password})
    assert response.status_code == 202, await response.get_data(as_text=True)
    return await response.get_json()


async def register_and_activate(
    client: TestClientProtocol, sink: MailSink, email: str, password: str = PASSWORD
) -> None:
    await register(client, email, password)
    [mail] = await wait_for_mail(sink, email, "Activate")
    response = await activate_link(client, activation_link(mail))
    assert response.status_code == 200, await response.get_data(as_text=True)


async def login(client: TestClientProtocol, email: str, password: str = PASSWORD) -> dict[str, Any]:
    response = await client.post("/accounts/login/", json={"email": email, "password": password})
    assert response.status_code == 200, await response.get_data(as_text=True)
    body: dict[str, Any] = await response.get_json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
