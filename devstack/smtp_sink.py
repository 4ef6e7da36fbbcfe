"""An SMTP server that accepts every message and delivers it nowhere (aiosmtpd).

Two ways to use it:

* `python -m devstack.smtp_sink --port 1025 --maildir .stack/mail` (what `make dev` runs,
  through `devstack.smtp.start_smtp_sink`):
  every message becomes one `.eml` file in the maildir, for a developer to read.
* `MailSink` (tests): an in-process server on its own thread that keeps messages in memory,
  with `await sink.wait_for(predicate)`, and can be stopped and started again on the same port
  to simulate an SMTP outage.

Any AUTH is accepted without TLS, so a client configured with credentials works too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import os
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser, BytesParser
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import Any

import uvloop
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

SERVER_HOSTNAME = "devstack-smtp-sink"  # avoids a slow getfqdn() lookup in aiosmtpd
_LOOPBACK = "127.0.0.1"


class _DropLoginDataWarning(logging.Filter):
    """aiosmtpd warns on every successful AUTH that a legacy attribute is deprecated; noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "login_data is deprecated" not in record.getMessage()


logging.getLogger("mail.log").addFilter(_DropLoginDataWarning())


@dataclass(frozen=True)
class ReceivedMail:
    """One message as received: the SMTP envelope and the bytes, parsed when first asked (the
    maildir sink of `make dev` only reads the subject: parsing a whole HTML + text message with
    the default policy was half of the sink's CPU under the checkout benchmark)."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes = field(repr=False)
    received_at: float = field(default_factory=time.time)

    @cached_property
    def message(self) -> EmailMessage:
        return parse_message(self.raw)

    @cached_property
    def subject(self) -> str:
        """The decoded Subject, from the headers alone."""
        return str(BytesHeaderParser(policy=policy.default).parsebytes(self.raw).get("Subject", ""))


def parse_message(raw: bytes) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


def _accept_any_login(*_args: Any) -> AuthResult:
    return AuthResult(success=True)


SMTP_OPTIONS: dict[str, Any] = {
    "enable_SMTPUTF8": True,
    "auth_require_tls": False,
    "authenticator": _accept_any_login,
}


class SinkHandler:
    """aiosmtpd handler: hand each message to `on_message`; count the sessions (EHLOs); refuse
    recipients ending in `refuse` (RCPT 550), a test's way to meet a refusing server."""

    def __init__(
        self, on_message: Callable[[ReceivedMail], None], refuse: str | None = None
    ) -> None:
        self._on_message = on_message
        self._refuse = refuse.lower() if refuse else None
        self.greetings = 0  # EHLOs answered: one per connection here (no STARTTLS)

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        self.greetings += 1
        session.host_name = hostname  # what aiosmtpd does itself when there is no hook
        return responses

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self._refuse and address.lower().endswith(self._refuse):
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        if isinstance(envelope.content, str) and not raw:
            raw = envelope.content.encode()
        mail = ReceivedMail(
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
            raw=raw,
        )
        self._on_message(mail)
        return "250 Message accepted for delivery"


class MaildirWriter:
    """Writes each message to `<maildir>/<UTC timestamp>-<n>-<subject>.eml` (atomically)."""

    def __init__(self, maildir: Path) -> None:
        self.maildir = maildir
        self._counter = itertools.count(1)
        maildir.mkdir(parents=True, exist_ok=True)

    def __call__(self, mail: ReceivedMail) -> None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%f")
        subject = re.sub(r"[^A-Za-z0-9]+", "-", mail.subject)[:40]
        name = f"{stamp}-{next(self._counter):04d}-{subject.strip('-') or 'no-subject'}.eml"
        headers = (
            f"X-Envelope-From: <{mail.mail_from}>\r\n"
            f"X-Envelope-To: {', '.join(f'<{r}>' for r in mail.rcpt_tos)}\r\n"
        ).encode()
        tmp = self.maildir / f".{name}.tmp"
        tmp.write_bytes(headers + mail.raw)
        os.replace(tmp, self.maildir / name)
        print(
            f"mail from {mail.mail_from} to {', '.join(mail.rcpt_tos)}: "
            f"{mail.subject} -> {self.maildir / name}",
            flush=True,
        )


class MailSink:
    """In-process SMTP sink for tests. Keeps every message in memory.

    >>> sink = MailSink().start()          # port chosen once, kept across stop()/start()
    >>> settings = Settings(smtp_host=sink.host, smtp_port=sink.port)
    >>> mail = await sink.wait_for(lambda m: m["To"] == "a@example.com")
    >>> sink.stop(); ...; sink.start()      # SMTP "down for a while", then back on the same port
    """

    def __init__(
        self,
        host: str = _LOOPBACK,
        port: int | None = None,
        maildir: Path | None = None,
        refuse: str | None = None,
    ) -> None:
        self.host = host
        self.port = port if port is not None else _free_port(host)
        self.received: list[ReceivedMail] = []
        self._writer = MaildirWriter(maildir) if maildir is not None else None
        self._lock = threading.Lock()
        self._controller: Controller | None = None
        self._handler = SinkHandler(self._deliver, refuse)

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._controller is not None

    @property
    def messages(self) -> list[EmailMessage]:
        with self._lock:
            return [mail.message for mail in self.received]

    @property
    def greetings(self) -> int:
        """How many SMTP sessions greeted this sink (EHLO): one per client connection."""
        return self._handler.greetings

    def clear(self) -> None:
        with self._lock:
            self.received.clear()

    def _deliver(self, mail: ReceivedMail) -> None:
        with self._lock:
            self.received.append(mail)
        if self._writer is not None:
            self._writer(mail)

    def start(self, timeout: float = 10.0) -> MailSink:
        """Listen (again) on self.host:self.port. Retries while the port is briefly busy."""
        if self._controller is not None:
            return self
        deadline = time.monotonic() + timeout
        while True:
            controller = Controller(
                self._handler,
                hostname=self.host,
                port=self.port,
                server_hostname=SERVER_HOSTNAME,
                **SMTP_OPTIONS,
            )
            try:
                controller.start()
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
                continue
            self._controller = controller
            return self

    def stop(self) -> None:
        """Stop listening (connections are refused until start()). Idempotent."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    async def wait_for(
        self,
        predicate: Callable[[EmailMessage], bool] | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109 - a plain deadline is the friendlier test API
    ) -> EmailMessage:
        """The first message (received so far or later) for which `predicate` is true."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                candidates = [mail.message for mail in self.received]
            for message in candidates:
                if predicate is None or predicate(message):
                    return message
            if time.monotonic() > deadline:
                subjects = [str(m.get("Subject", "")) for m in candidates]
                raise TimeoutError(
                    f"no matching mail within {timeout}s; received {len(candidates)}: {subjects}"
                )
            await asyncio.sleep(0.02)

    def __enter__(self) -> MailSink:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> MailSink:
        return self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


async def serve(host: str, port: int, maildir: Path) -> None:
    """Run the maildir sink until SIGINT/SIGTERM."""
    writer = MaildirWriter(maildir)
    handler = SinkHandler(writer)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname=SERVER_HOSTNAME, **SMTP_OPTIONS), host=host, port=port
    )
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"smtp sink listening on {host}:{port}, writing .eml files to {maildir}", flush=True)
    await stop.wait()
    server.close()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(server.wait_closed(), 5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.smtp_sink", description=__doc__)
    parser.add_argument("--host", default=_LOOPBACK)
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--maildir", type=Path, required=True)
    args = parser.parse_args(argv)
    uvloop.run(serve(args.host, args.port, args.maildir.resolve()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
