"""The emailed activation link opens a confirmation page: opening it (a mail scanner, a link
preview) never activates; its button does. Unknown query parameters are ignored."""

from __future__ import annotations

from quart.typing import TestClientProtocol

from tests.conftest import Stack
from tests.support import (
    PASSWORD,
    activation_link,
    follow_link,
    new_email,
    page_form,
    path_of,
    register,
    wait_for_mail,
)


async def _login_status(client: TestClientProtocol, email: str) -> int:
    response = await client.post("/accounts/login/", json={"email": email, "password": PASSWORD})
    return response.status_code


async def test_a_scanner_fetching_the_activation_link_does_not_activate(
    client: TestClientProtocol, stack: Stack
) -> None:
    email = new_email("scanned")
    await register(client, email)
    [mail] = await wait_for_mail(stack.mail, email, "Activate")
    link = activation_link(mail)
    for suffix in ("", "&utm_source=newsletter&utm_medium=email", "&utm_content=%00x"):
        page = await client.get(path_of(link) + suffix)
        assert page.status_code == 200
        assert page.headers["Content-Type"].startswith("text/html")
        assert page.headers["Cache-Control"] == "no-store"
        assert "script-src 'nonce-" in page.headers["Content-Security-Policy"]
        endpoint, fields = page_form(await page.get_data(as_text=True))
        assert endpoint == "/accounts/activate/"
        assert fields == {"token": link.split("token=")[1], "email": email}
    assert await _login_status(client, email) == 403  # still not activated

    # The person who presses the button activates it.
    response = await follow_link(client, link)
    assert response.status_code == 200
    assert await _login_status(client, email) == 200


async def test_a_broken_activation_link_shows_a_page_not_an_error(
    client: TestClientProtocol,
) -> None:
    for query in ("", "?token=", "?token=short", "?token=" + "a" * 200, "?utm_source=x"):
        page = await client.get("/accounts/activate/" + query)
        assert page.status_code == 200
        text = await page.get_data(as_text=True)
        assert "incomplete" in text
        assert "<form" not in text


async def test_the_page_escapes_what_the_link_carries(client: TestClientProtocol) -> None:
    page = await client.get(
        "/accounts/activate/?token=" + "a" * 64 + "&email=%22%3E%3Cscript%3Ex%3C/script%3E@x.io"
    )
    text = await page.get_data(as_text=True)
    assert "<script>x</script>" not in text
    assert page.status_code == 200
