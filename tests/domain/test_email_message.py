"""One email as its recipient's mail program sees it: built by `build_message`, sent by the real
`Mailer` over SMTP to the sink, parsed back. The ASCII fast path (compat32 classes) and the
EmailMessage path (a non-ASCII address or subject) must read the same."""

from __future__ import annotations

import time
import uuid

import pytest

from devstack.smtp_sink import MailSink
from domain.email.render import EmailRenderer, RenderedEmail, build_message
from tests.support import html_of, mailer_for, text_of

SENDER = "Online Cinema <no-reply@cinema.local>"


async def _send_and_read(sink: MailSink, rendered: RenderedEmail, recipient: str):
    await mailer_for(sink).send(build_message(rendered, SENDER, recipient))
    message = await sink.wait_for(lambda m: m["To"] == recipient, timeout=10)
    raw = next(m.raw for m in reversed(sink.received) if recipient in m.rcpt_tos)
    return message, raw


def _lines(text: str) -> list[str]:
    return text.splitlines()


@pytest.mark.parametrize(
    ("name", "recipient", "subject"),
    [
        # the fast path: every header ASCII, the bodies 7bit or quoted-printable
        ("ascii", "buyer-{}@example.com", "Your Online Cinema receipt"),
        # EmailMessage: an internationalized address (SMTPUTF8) and subject
        ("intl", "jöhn-{}@bücher.de", "Ihre Quittung für Amélie"),
    ],
)
async def test_a_message_reads_back_as_rendered(mail_sink: MailSink, name, recipient, subject):
    recipient = recipient.format(uuid.uuid4().hex[:8])
    long_line = "x" * 1200  # longer than SMTP's 998: cannot go as 7bit
    cases = {
        # a line starting "From " stays as written (no mbox-style ">From ")
        "plain ascii": (
            "Total: 15.98 USD\nFrom Dusk Till Dawn 2.99\nhttps://cinema.test/orders/7/?a=1&b=2\n",
            "<p>15.98</p>\nFrom Dusk Till Dawn\n",
        ),
        "an ASCII long line": (f"{long_line}\n", f"<p>{long_line}</p>\n"),
        "accents and a long line": (
            f"Amélie — 2.99 €\n{long_line}\n",
            f"<p>Amélie</p><p>{long_line}</p>\n",
        ),
    }
    for label, (text, html) in cases.items():
        rendered = RenderedEmail(subject=subject, text=text, html=html)
        message, raw = await _send_and_read(mail_sink, rendered, recipient)
        assert message["Subject"] == subject, label
        assert message["From"] == SENDER, label
        assert message["To"] == recipient, label
        assert message["Message-ID"].endswith("@cinema.local>"), label
        assert abs(message["Date"].datetime.timestamp() - time.time()) < 60, label
        assert message.get_content_type() == "multipart/alternative", label
        assert _lines(text_of(message)) == _lines(text), label
        assert _lines(html_of(message)) == _lines(html), label
        assert all(len(line) <= 998 for line in raw.split(b"\r\n")), label
        if name == "ascii" and label == "plain ascii":
            # 7bit: the link is in the raw message as written, so it can be read or grepped
            assert b"https://cinema.test/orders/7/?a=1&b=2" in raw
        mail_sink.clear()


async def test_a_rendered_template_takes_the_fast_path_and_keeps_its_link(mail_sink: MailSink):
    renderer = EmailRenderer("http://cinema.test")
    link = renderer.link("/accounts/activate/", token="t0k=n", email="a@example.com")
    rendered = renderer.render("activation", activation_url=link, expires_at="2026-11-28 12:00 UTC")
    recipient = f"new-{uuid.uuid4().hex[:8]}@example.com"
    message, _raw = await _send_and_read(mail_sink, rendered, recipient)
    assert type(build_message(rendered, SENDER, recipient)).__name__ == "MIMEMultipart"
    assert message["Subject"] == "Activate your Online Cinema account"
    assert link in text_of(message)
    assert link.replace("&", "&amp;") in html_of(message)
    mail_sink.clear()
