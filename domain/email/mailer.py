"""SMTP delivery (aiosmtplib: async, STARTTLS and auth). Retries are Temporal's job, not ours."""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib

from domain.config import Settings


class Mailer:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    async def send(self, message: EmailMessage) -> None:
        s = self._settings
        await aiosmtplib.send(
            message,
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_user or None,
            password=s.smtp_password.get_secret_value() or None,
            start_tls=s.smtp_use_tls,
            timeout=s.smtp_timeout_seconds,
        )
