"""The SMTP sink: in-process (devstack.smtp_sink.MailSink) and as a subprocess (devstack.smtp)."""

from __future__ import annotations

import smtplib
import time
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import aiosmtplib
import pytest

from devstack.smtp import start_smtp_sink
from devstack.smtp_sink import MailSink
from tests.devstack.support import gone


def _mail(subject: str, to: str = "alice@example.com", body: str = "hello") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Online Cinema <no-reply@cinema.local>"
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    return message


async def test_mail_sink_receives_and_survives_an_outage_on_the_same_port():
    sink = MailSink().start()
    try:
        await aiosmtplib.send(_mail("first"), hostname=sink.host, port=sink.port, timeout=5)
        first = await sink.wait_for(lambda m: m["Subject"] == "first", timeout=5)
        assert first.get_content().strip() == "hello"
        assert sink.received[0].rcpt_tos == ("alice@example.com",)

        port = sink.port
        sink.stop()
        sink.stop()  # idempotent
        with pytest.raises(OSError):
            await aiosmtplib.send(_mail("lost"), hostname=sink.host, port=port, timeout=2)

        sink.start()
        assert sink.port == port
        with smtplib.SMTP(sink.host, sink.port, timeout=5) as client:  # AUTH is accepted
            client.login("user", "secret")
            client.send_message(_mail("second", to="bob@example.com"))
        second = await sink.wait_for(lambda m: m["To"] == "bob@example.com", timeout=5)
        assert second["Subject"] == "second"
        assert [m["Subject"] for m in sink.messages] == ["first", "second"]

        with pytest.raises(TimeoutError):
            await sink.wait_for(lambda m: m["Subject"] == "never", timeout=0.2)
    finally:
        sink.stop()


async def test_smtp_sink_subprocess_writes_eml_files(tmp_path):
    maildir = tmp_path / "mail"
    with start_smtp_sink(maildir) as service:
        with smtplib.SMTP(service.host, service.port, timeout=5) as client:
            client.send_message(
                _mail("Activate your account"), to_addrs=["alice@example.com", "hidden@x.io"]
            )
        deadline = time.monotonic() + 5
        while not (files := list(maildir.glob("*.eml"))) and time.monotonic() < deadline:
            time.sleep(0.05)
        pid = service.pid
    assert pid is not None and gone(pid)
    assert len(files) == 1
    assert files[0].name.endswith("-Activate-your-account.eml")  # named by its subject
    message = BytesParser(policy=policy.default).parsebytes(files[0].read_bytes())
    assert message["Subject"] == "Activate your account"
    assert "hidden@x.io" in message["X-Envelope-To"]
