"""An activated account made the way a user makes one: register through the API, then open the
activation link that the SMTP sink saved as an `.eml` file (`--user-setup mail`)."""

from __future__ import annotations

import asyncio
import email
import re
import time
from email import policy
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from bench.load import BenchError

ACCOUNT_EXISTS = "exists"  # activation_link: the mail says the account already exists


def activation_link(mail_dir: Path, email_: str, since: float) -> str | None:
    """The activation link mailed to `email_` since `since`, ACCOUNT_EXISTS, or None (yet)."""
    for path in sorted(mail_dir.glob("*.eml"), key=lambda p: p.stat().st_mtime, reverse=True):
        if path.stat().st_mtime < since:
            break
        with path.open("rb") as fp:
            message = email.message_from_binary_file(fp, policy=policy.default)
        if str(message["To"]).strip().lower() != email_:
            continue
        body = message.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        match = re.search(r"https?://\S+/accounts/activate/\?\S+", str(text))
        if match:
            return match.group(0)
        if "register" in str(message["Subject"]).lower():  # "Someone tried to register with..."
            return ACCOUNT_EXISTS
    return None


async def mail_create_account(
    client: httpx.AsyncClient, mail_dir: Path, email_: str, password: str, wait_seconds: float
) -> str:
    """Register through the API, then open the activation link from the SMTP sink's mail."""
    started = time.time() - 1
    response = await client.post(
        "/accounts/register/", json={"email": email_, "password": password}
    )
    if response.status_code == 429:
        raise BenchError(f"registration was rate limited (429): {response.text}")
    if response.status_code != 202:
        raise BenchError(f"registration failed: {response.status_code} {response.text}")
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        link = activation_link(mail_dir, email_, started)
        if link == ACCOUNT_EXISTS:
            return "registered through the API: the account exists already (notice mailed)"
        if link is not None:
            # The link opens a confirmation page; its button POSTs the link's token.
            query = {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}
            activated = await client.post("/accounts/activate/", json=query)
            if activated.status_code != 200:
                raise BenchError(f"activation failed: {activated.status_code} {activated.text}")
            return f"registered through the API, activated from {mail_dir}"
        await asyncio.sleep(0.5)
    # No activation mail: the account may exist and be active already (a second run).
    return f"registered through the API; no activation mail in {mail_dir} (existing account?)"
