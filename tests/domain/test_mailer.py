"""The mailer keeps its SMTP connection between mails (no connect, EHLO and QUIT for each
receipt), and never reuses one the server closed, that stopped answering, that sat idle too long
or that carried its share of mails. Against the real SMTP sink, which counts the sessions that
greeted it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import aiosmtplib
import pytest

import domain.email.mailer as mailer_module
from devstack.smtp_sink import MailSink
from domain.email.mailer import Mailer
from domain.email.render import RenderedEmail, build_message
from tests.support import mailer_for

SENDER = "Online Cinema <no-reply@cinema.local>"
REFUSED_DOMAIN = "@refused.invalid"  # recipients this test's sink refuses (RCPT 550)


@pytest.fixture
async def sink() -> AsyncIterator[MailSink]:
    with MailSink(refuse=REFUSED_DOMAIN) as own:  # its own: tests stop it, count its sessions
        yield own


@pytest.fixture
async def mailer(sink: MailSink) -> AsyncIterator[Mailer]:
    made = mailer_for(sink)
    yield made
    await made.close()


async def _send(sink: MailSink, mailer: Mailer, subject: str = "Your receipt") -> str:
    recipient = f"buyer-{uuid.uuid4().hex[:8]}@example.com"
    rendered = RenderedEmail(subject=subject, text="Thanks.\n", html="<p>Thanks.</p>")
    await mailer.send(build_message(rendered, SENDER, recipient))
    await sink.wait_for(lambda m: m["To"] == recipient, timeout=10)
    return recipient


async def test_mails_in_a_row_share_one_connection(sink: MailSink, mailer: Mailer) -> None:
    for _ in range(3):
        await _send(sink, mailer)
    # ...and an internationalized one (the EmailMessage path) on the same connection
    await _send(sink, mailer, subject="Ihre Quittung für Amélie")
    assert len(sink.received) == 4
    assert sink.greetings == 1


async def test_mails_sent_at_once_each_get_a_connection_and_all_arrive(
    sink: MailSink, mailer: Mailer
) -> None:
    await asyncio.gather(*(_send(sink, mailer) for _ in range(6)))
    assert len(sink.received) == 6
    assert 1 <= sink.greetings <= 6
    before = sink.greetings
    await _send(sink, mailer)  # an idle one is reused
    assert sink.greetings == before
    assert len(mailer._idle) <= mailer_module.MAX_IDLE


async def test_a_connection_the_server_closed_is_not_reused(sink: MailSink, mailer: Mailer) -> None:
    await _send(sink, mailer)
    sink.stop()  # the server goes away, and its sessions with it
    sink.start()
    await asyncio.sleep(0.3)  # the client side sees the connection close
    await _send(sink, mailer)  # on a new connection, not an error
    assert len(sink.received) == 2 and sink.greetings == 2


async def test_a_kept_connection_dropped_unnoticed_is_replaced_before_the_mail(
    sink: MailSink, mailer: Mailer
) -> None:
    """The server went away and the client has not yet seen it close (or it went silent): the
    NOOP before the mail finds out, and the mail goes on a fresh connection, not as an error."""
    await _send(sink, mailer)
    sink.stop()
    sink.start()
    await _send(sink, mailer)  # no pause: the old connection still looks connected
    assert len(sink.received) == 2 and sink.greetings == 2


async def test_a_connection_idle_too_long_is_replaced(
    sink: MailSink, mailer: Mailer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mailer_module, "IDLE_SECONDS", 0.2)
    await _send(sink, mailer)
    await asyncio.sleep(0.3)
    await _send(sink, mailer)
    assert sink.greetings == 2


async def test_kept_connections_idle_too_long_are_all_closed(
    sink: MailSink, mailer: Mailer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mailer_module, "IDLE_SECONDS", 2.0)
    await asyncio.gather(*(_send(sink, mailer) for _ in range(3)))
    assert len(mailer._idle) == 3
    await asyncio.sleep(1.0)
    await _send(sink, mailer)  # refreshes one; the two others keep aging
    await asyncio.sleep(1.2)
    await _send(sink, mailer)  # the two past 2 s are closed, not left open under it
    assert len(mailer._idle) == 1


async def test_a_connection_is_replaced_after_its_share_of_mails(
    sink: MailSink, mailer: Mailer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mailer_module, "MAILS_PER_CONNECTION", 2)
    for _ in range(3):
        await _send(sink, mailer)
    assert sink.greetings == 2


async def test_a_failed_mail_closes_its_connection_and_the_next_one_goes_out(
    sink: MailSink, mailer: Mailer
) -> None:
    await _send(sink, mailer)
    refused = build_message(
        RenderedEmail(subject="x", text="x\n", html="<p>x</p>"), SENDER, f"nobody{REFUSED_DOMAIN}"
    )
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
        await mailer.send(refused)
    assert mailer._idle == []  # not kept for the next mail
    await _send(sink, mailer)
    assert sink.greetings == 2
