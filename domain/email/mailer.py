"""SMTP delivery (aiosmtplib: async, STARTTLS and auth). Retries are Temporal's job, not ours."""

from __future__ import annotations

import asyncio
import io
import socket
from email.generator import BytesGenerator
from email.message import EmailMessage, Message
from email.policy import compat32
from email.utils import getaddresses, parseaddr

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
        if isinstance(message, EmailMessage):
            content: Message | bytes = message
            sender, recipients = None, None  # aiosmtplib reads them from the headers
        else:
            # A compat32 message (domain.email.render's fast path): aiosmtplib would flatten it
            # with compat32's mbox habit of writing ">From " for a body line starting "From ".
            buffer = io.BytesIO()
            BytesGenerator(buffer, mangle_from_=False, policy=compat32).flatten(message)
            content = buffer.getvalue()
            sender = parseaddr(str(message["From"]))[1]
            recipients = [address for _, address in getaddresses(message.get_all("To", []))]
        await aiosmtplib.send(
            content,
            sender=sender,
            recipients=recipients,
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_user or None,
            password=s.smtp_password.get_secret_value() or None,
            start_tls=s.smtp_use_tls,
            timeout=s.smtp_timeout_seconds,
            local_hostname=await self._hostname(),
        )
