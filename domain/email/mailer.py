"""SMTP delivery (aiosmtplib: async, STARTTLS and auth). Retries are Temporal's job, not ours.

Connections are kept open between mails and reused: a fresh one costs a TCP connect, the
greeting, EHLO, STARTTLS and its handshake, AUTH, and QUIT, for every receipt; a reused one
a NOOP, then MAIL, RCPT and DATA. A connection is reused only while the server has not closed
it, within `IDLE_SECONDS` of its last mail (servers drop idle clients after a few minutes; older
ones are closed) and for at most `MAILS_PER_CONNECTION` mails, and only once it answered the
NOOP within `PROBE_TIMEOUT_SECONDS`: one the server dropped without our noticing, or that went
silent, is replaced by a fresh connection before any of the mail is sent. Any error after that
closes the connection, and the mail fails as before (the activity's retry sends it again).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import socket
import time
from dataclasses import dataclass
from email.generator import BytesGenerator
from email.message import EmailMessage, Message
from email.policy import compat32
from email.utils import getaddresses, parseaddr

import aiosmtplib

from domain.config import Settings

IDLE_SECONDS = 30.0  # an idle connection older than this is closed, not reused
MAILS_PER_CONNECTION = 20  # then a new connection (servers cap mails per session; Exchange: 20)
MAX_IDLE = 4  # connections kept open between mails; more sent at once close after theirs
PROBE_TIMEOUT_SECONDS = 2.0  # a kept connection must answer NOOP within this to be used
QUIT_TIMEOUT_SECONDS = 2.0


@dataclass
class _Connection:
    client: aiosmtplib.SMTP
    loop: asyncio.AbstractEventLoop
    mails: int = 0
    idle_since: float = 0.0


class Mailer:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._local_hostname: str | None = None
        self._idle: list[_Connection] = []
        self._quitting: set[asyncio.Task[None]] = set()  # referenced until done

    async def _hostname(self) -> str:
        """The name we greet the SMTP server with (EHLO). aiosmtplib looks it up on every
        connection (`socket.getfqdn`, a reverse DNS lookup in a thread); it does not change
        while we run, so it is looked up once."""
        if self._local_hostname is None:
            self._local_hostname = await asyncio.to_thread(socket.getfqdn)
        return self._local_hostname

    async def send(self, message: Message) -> None:
        connection = await self._reusable() or await self._connect()
        try:
            if isinstance(message, EmailMessage):
                # aiosmtplib reads sender and recipients from the headers (SMTPUTF8 if needed).
                await connection.client.send_message(message)
            else:
                # A compat32 message (domain.email.render's fast path): aiosmtplib would flatten
                # it with compat32's mbox habit of writing ">From " for a body line "From ".
                buffer = io.BytesIO()
                BytesGenerator(buffer, mangle_from_=False, policy=compat32).flatten(message)
                sender = parseaddr(str(message["From"]))[1]
                recipients = [address for _, address in getaddresses(message.get_all("To", []))]
                await connection.client.sendmail(sender, recipients, buffer.getvalue())
        except BaseException:
            connection.client.close()  # its state is unknown: never reused
            raise
        connection.mails += 1
        self._release(connection)

    async def _reusable(self) -> _Connection | None:
        """A kept connection that answers, if there is one; the stale ones are closed."""
        loop = asyncio.get_running_loop()
        now = time.monotonic()
        fresh = []
        for connection in self._idle:
            if (
                connection.loop is loop
                and connection.client.is_connected
                and now - connection.idle_since < IDLE_SECONDS
            ):
                fresh.append(connection)
            else:
                connection.client.close()
        self._idle = fresh
        while self._idle:
            connection = self._idle.pop()  # the most recently used
            try:
                await connection.client.noop(timeout=PROBE_TIMEOUT_SECONDS)
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                connection.client.close()  # gone: nothing of the mail was sent on it
                continue
            except BaseException:
                connection.client.close()
                raise
            return connection
        return None

    async def _connect(self) -> _Connection:
        s = self._settings
        client = aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_user or None,
            password=s.smtp_password.get_secret_value() or None,
            start_tls=s.smtp_use_tls,
            timeout=s.smtp_timeout_seconds,
            local_hostname=await self._hostname(),
        )
        await client.connect()  # greeting, EHLO, STARTTLS and login as configured
        return _Connection(client, asyncio.get_running_loop())

    def _release(self, connection: _Connection) -> None:
        if connection.mails >= MAILS_PER_CONNECTION or len(self._idle) >= MAX_IDLE:
            task = asyncio.get_running_loop().create_task(self._quit(connection.client))
            self._quitting.add(task)
            task.add_done_callback(self._quitting.discard)
            return
        connection.idle_since = time.monotonic()
        self._idle.append(connection)

    @staticmethod
    async def _quit(client: aiosmtplib.SMTP) -> None:
        with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
            await client.quit(timeout=QUIT_TIMEOUT_SECONDS)
        client.close()

    async def close(self) -> None:
        """Say goodbye on the idle connections (the worker's shutdown)."""
        idle, self._idle = self._idle, []
        loop = asyncio.get_running_loop()
        await asyncio.gather(
            *(self._quit(c.client) for c in idle if c.loop is loop), *self._quitting
        )
        for connection in idle:
            connection.client.close()
