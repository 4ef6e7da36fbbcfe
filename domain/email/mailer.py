"""SMTP delivery (aiosmtplib: async, STARTTLS and auth). Retries are Temporal's job, not ours."""

from __future__ import annotations

import asyncio
import socket
from email.message import Message

import aiosmtplib

from domain.config import Settings


class Mailer:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._local_hostname: str | None = None

    async def _hostname(self) -> str:
        """The name we greet the SMTP server with (EHLO). aiosmtplib looks it up on every
        connection (`socket.getfqdn`, a reverse DNS lookup in a thread); it does not change
        while we run, so it is looked up once."""
        if self._local_hostname is None:
            self._local_hostname = await asyncio.to_thread(socket.getfqdn)
        return self._local_hostname

    async def send(self, message: Message) -> None:
        s = self._settings
        await aiosmtplib.send(
            message,
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_user or None,
            password=s.smtp_password.get_secret_value() or None,
            start_tls=s.smtp_use_tls,
            timeout=s.smtp_timeout_seconds,
            local_hostname=await self._hostname(),
        )
