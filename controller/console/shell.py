"""The browser shell's pure parts: the page's one-time ticket, the websocket's framing, the default OS user.

The shell page (:mod:`controller.console.pages_shell`) and the websocket that carries the terminal
(:mod:`controller.console.shell_server`, on the Instance Connect listener) may run in different processes (API
workers render pages; the primary runs the listener), so what the page hands the websocket is a ticket sealed
with the cloud's key (:class:`~controller.auth.secrets.SecretBox`), not a server-side entry. It names the
session it was issued to (the websocket must also bring that session's cookie: a leaked ticket alone opens
nothing), the instance and the OS user, lives :data:`TICKET_SECONDS`, and is spent once (:class:`Spent`, in the
listener's memory: one listener serves all the shells). It is the websocket's CSRF token: a page of another
site can make the browser send the cookie to the listener, but cannot read a ticket out of the console.

On the websocket, binary messages are terminal bytes (both ways); text messages are JSON control messages:
``{"resize": [cols, rows]}`` from the page, ``{"status": text}`` and ``{"error": code, "message": text}`` from
the server, which the page writes into the terminal.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from controller.auth.secrets import SecretBox, SecretDecryptionError

#: How long a shell page's ticket opens a websocket: the page connects as soon as it loads.
TICKET_SECONDS = 60
#: The websocket's path on the Instance Connect listener: under the console's cookie Path (``/console``), so
#: the browser sends the session cookie along (cookies ignore ports; SameSite=Strict allows the same site).
WEBSOCKET_PATH = "/console/shell"
#: The OS user names the page accepts (what ``useradd`` accepts; SendSSHPublicKey checks its own pattern).
OS_USER = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")
MAX_COLUMNS, MAX_ROWS = 1000, 500


class TicketRefused(Exception):
    """The ticket does not open a shell; the message says why (shown to the browser as a 403's body)."""


@dataclass(frozen=True)
class Ticket:
    session_hash: str
    instance_id: str
    os_user: str
    nonce: str
    issued_at: float


@dataclass(frozen=True)
class Resize:
    columns: int
    rows: int


def issue(box: SecretBox, session_hash: str, instance_id: str, os_user: str, now: float | None = None) -> str:
    """A ticket for one shell on ``instance_id`` as ``os_user``, for the session whose token hashes to
    ``session_hash``."""
    return box.encrypt(json.dumps({"s": session_hash, "i": instance_id, "u": os_user,
                                   "at": time.time() if now is None else now, "n": secrets.token_hex(16)}))


def open_ticket(box: SecretBox, token: str, session_hash: str, now: float | None = None) -> Ticket:
    """The ticket ``token`` seals, when it is the cloud's, in time, and issued to ``session_hash``'s session."""
    try:
        sealed: Any = json.loads(box.decrypt(token))
        ticket = Ticket(str(sealed["s"]), str(sealed["i"]), str(sealed["u"]), str(sealed["n"]), float(sealed["at"]))
    except (SecretDecryptionError, ValueError, KeyError, TypeError):
        raise TicketRefused("The shell's ticket is not valid. Reload the page.") from None
    age = (time.time() if now is None else now) - ticket.issued_at
    if not 0 <= age <= TICKET_SECONDS:
        raise TicketRefused("The shell's ticket expired. Reload the page.")
    if not secrets.compare_digest(ticket.session_hash, session_hash):
        raise TicketRefused("The shell's ticket was issued to another console session.")
    return ticket


class Spent:
    """The nonces of the tickets already used, each kept as long as its ticket could still be valid."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def claim(self, ticket: Ticket, now: float | None = None) -> bool:
        """True the first time ``ticket`` is claimed; False after."""
        with self._lock:
            horizon = (time.time() if now is None else now) - TICKET_SECONDS - 1
            self._seen = {nonce: at for nonce, at in self._seen.items() if at >= horizon}
            if ticket.nonce in self._seen:
                return False
            self._seen[ticket.nonce] = ticket.issued_at
            return True


def client_message(message: str | bytes) -> bytes | Resize:
    """What a message from the page means: keystrokes (bytes) or a terminal size; ValueError otherwise."""
    if isinstance(message, bytes):
        return message
    control = json.loads(message)
    size = control.get("resize") if isinstance(control, dict) else None
    if not (isinstance(size, list) and len(size) == 2 and all(type(n) is int for n in size)):
        raise ValueError("unknown control message")
    columns, rows = size
    if not (1 <= columns <= MAX_COLUMNS and 1 <= rows <= MAX_ROWS):
        raise ValueError("terminal size out of range")
    return Resize(columns, rows)


def status(text: str) -> str:
    return json.dumps({"status": text})


def failure(code: str, message: str) -> str:
    return json.dumps({"error": code, "message": message})


def default_os_user(image_name: str) -> str:
    """The login the AMI's family suggests, as AWS's console guesses it: Cloudlet's tiny image logs in as
    ``root`` (images/tiny), Debian's cloud images as ``admin``, others (Amazon Linux style) as ``ec2-user``."""
    if image_name.startswith("cloudlet-tiny"):
        return "root"
    if "debian" in image_name.lower():
        return "admin"
    return "ec2-user"
