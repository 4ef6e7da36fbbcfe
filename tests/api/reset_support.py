"""What the password-reset tests share: asking for a link, and reading it from the mail sink."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from quart.typing import TestClientProtocol

from domain.email.render import SUBJECTS
from tests.conftest import Stack
from tests.support import reset_link, wait_for_mail

NEW_PASSWORD = "N3w$ecretPass"
RESET_SUBJECT = SUBJECTS["password_reset"]
CHANGED_SUBJECT = SUBJECTS["password_changed"]


async def request_reset(client: TestClientProtocol, email: str, **kwargs: Any) -> Any:
    return await client.post("/accounts/reset-password/request/", json={"email": email}, **kwargs)


async def reset_links(stack: Stack, email: str, count: int = 1) -> list[str]:
    """The reset links mailed to `email` so far (waiting for `count` of them), oldest first."""
    mails = await wait_for_mail(stack.mail, email, RESET_SUBJECT, count=count)
    return [reset_link(mail) for mail in mails]


async def complete(
    client: TestClientProtocol, email: str, token: str, password: str = NEW_PASSWORD, **kw: Any
) -> Any:
    body = {"email": email, "token": token, "password": password}
    return await client.post("/accounts/reset-password/complete/", json=body, **kw)


async def next_second() -> None:
    """Wait into the next wall-clock second. Token `iat` and the revocation mark compare at
    whole seconds (domain/accounts/service.check_user_may_use), so a token is only revoked by a
    reset made in a later second than it was issued: real sessions are that old."""
    await asyncio.sleep(1 - time.time() % 1 + 0.01)
