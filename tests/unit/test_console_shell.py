"""The browser shell's pure parts: the page's one-time ticket, the websocket's control messages, the OS user
the image suggests (controller/console/shell.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.auth.secrets import SecretBox
from controller.console import shell

SESSION = "a" * 64


@pytest.fixture
def box(tmp_path: Path) -> SecretBox:
    return SecretBox(tmp_path / "secret.key")


def test_a_ticket_opens_for_its_session_in_time_and_once(box: SecretBox) -> None:
    token = shell.issue(box, SESSION, "i-0123456789abcdef0", "root", now=1000.0)
    ticket = shell.open_ticket(box, token, SESSION, now=1000.0 + shell.TICKET_SECONDS)
    assert (ticket.instance_id, ticket.os_user) == ("i-0123456789abcdef0", "root")
    spent = shell.Spent()
    assert spent.claim(ticket, now=1001.0) is True
    assert spent.claim(shell.open_ticket(box, token, SESSION, now=1001.0), now=1002.0) is False


@pytest.mark.parametrize(("session", "now", "why"), [
    ("b" * 64, 1000.0, "another console session"),
    (SESSION, 1000.0 + shell.TICKET_SECONDS + 1, "expired"),
    (SESSION, 999.0, "expired"),  # from the future: a clock or a forgery, refused either way
])
def test_a_ticket_of_another_session_or_out_of_time_is_refused(box: SecretBox, session: str, now: float,
                                                                 why: str) -> None:
    token = shell.issue(box, SESSION, "i-0123456789abcdef0", "root", now=1000.0)
    with pytest.raises(shell.TicketRefused, match=why):
        shell.open_ticket(box, token, session, now=now)


def test_a_forged_or_foreign_ticket_is_refused(box: SecretBox, tmp_path: Path) -> None:
    other = SecretBox(tmp_path / "other.key")
    for token in ("", "not-a-ticket", shell.issue(other, SESSION, "i-0123456789abcdef0", "root"),
                  box.encrypt(json.dumps({"s": SESSION}))):
        with pytest.raises(shell.TicketRefused, match="not valid"):
            shell.open_ticket(box, token, SESSION)


def test_the_page_sends_keystrokes_as_bytes_and_sizes_as_json() -> None:
    assert shell.client_message(b"ls\r") == b"ls\r"
    assert shell.client_message('{"resize": [120, 40]}') == shell.Resize(120, 40)
    for bad in ('{"resize": [0, 40]}', '{"resize": [120]}', '{"resize": ["1", 2]}', '{"resize": [true, 2]}',
                '{"paste": "x"}', "[]", "not json"):
        with pytest.raises(ValueError):
            shell.client_message(bad)


def test_the_server_speaks_status_and_errors_as_json() -> None:
    assert json.loads(shell.status("Connecting")) == {"status": "Connecting"}
    assert json.loads(shell.failure("AccessDeniedException", "no")) == {"error": "AccessDeniedException",
                                                                        "message": "no"}


@pytest.mark.parametrize(("image", "user"), [("cloudlet-tiny-1a2b3c4d", "root"), ("cloudlet-debian-12", "admin"),
                                             ("al2023-ami-2023", "ec2-user"), ("", "ec2-user")])
def test_the_os_user_follows_the_image_family(image: str, user: str) -> None:
    assert shell.default_os_user(image) == user
    assert shell.OS_USER.match(user)
