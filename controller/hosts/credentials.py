"""Per-host agent credentials: what a host joined with ``cloudlet host add`` proves itself with.

The cloud-wide token (``agent.token`` in the data dir) stays what the agent ``cloudlet up`` starts on the
controller's own machine uses: it acts for any host. A joined host gets its own credential instead, so a
host that is removed (or compromised) can be shut out alone, and one host can never report, long-poll or
relay for another.

A host credential is ``clh1.<host id>.<serial>.<mac>``, where the mac is an HMAC-SHA256 of the host id and
serial under the cloud-wide token. The controller therefore never stores it: it can check one (recompute the
mac, then look up that the serial is the host's current one) and derive it again when it calls the host's
agent (Lambda's function runner, Instance Connect's tunnels). Revoking bumps nothing but the table's row:
``revoke`` deletes it, and a later join issues the next serial, so an old credential stays dead.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from dataclasses import dataclass

from sqlalchemy import Column, Integer, String, Table, delete, select

from controller.state import Database, JsonText, UtcDateTime, metadata, utcnow

PREFIX = "clh1"
#: How long a checked host credential (and the one presented to a host) is believed without reading the
#: table again: every relayed API call, agent report and Lambda invocation needs one, and a revocation or
#: re-join in another process takes effect within this.
VERIFIED_FOR_S = 1.0

host_credentials = Table(
    "host_credentials", metadata,
    Column("host_id", String(64), primary_key=True),
    Column("serial", Integer, nullable=False),
    Column("issued_at", UtcDateTime, nullable=False),
    #: How ``cloudlet host add`` joined it (``ssh_target``, and the agent's ``python``, ``state_dir`` and
    #: ``name_prefix`` there), for ``host remove`` to stop that agent and clear what it built; None otherwise.
    Column("joined", JsonText),
)


@dataclass(frozen=True)
class AgentIdentity:
    """Who presented a credential: one host, or (``host_id`` None) the cloud-wide token, good for any."""

    host_id: str | None

    def may_act_for(self, host_id: str) -> bool:
        return self.host_id is None or self.host_id == host_id


class AgentCredentials:
    """Checks and derives agent credentials for one cloud (see the module docstring)."""

    def __init__(self, db: Database, shared_token: str) -> None:
        self.db = db
        self.shared_token = shared_token
        self._key = shared_token.encode()
        self._verified: dict[str, float] = {}
        #: host id -> (what ``token_for`` answered, until when): every Lambda invocation asks.
        self._presented: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def _mac(self, host_id: str, serial: int) -> str:
        return hmac.new(self._key, f"{host_id}.{serial}".encode(), hashlib.sha256).hexdigest()

    def _token(self, host_id: str, serial: int) -> str:
        return f"{PREFIX}.{host_id}.{serial}.{self._mac(host_id, serial)}"

    def issue(self, host_id: str, joined: dict[str, str] | None = None) -> str:
        """A new credential for ``host_id``; any earlier one of that host stops working."""
        with self._lock:
            self._presented.pop(host_id, None)
        with self.db.begin() as conn:
            row = conn.execute(select(host_credentials.c.serial)
                               .where(host_credentials.c.host_id == host_id)).first()
            serial = (row.serial if row else 0) + 1
            conn.execute(delete(host_credentials).where(host_credentials.c.host_id == host_id))
            conn.execute(host_credentials.insert().values(host_id=host_id, serial=serial, issued_at=utcnow(),
                                                          joined=joined))
        return self._token(host_id, serial)

    def revoke(self, host_id: str) -> bool:
        """Shut the host's credential out; False when it had none."""
        with self._lock:
            self._presented.pop(host_id, None)
            self._verified = {key: until for key, until in self._verified.items()
                              if not key.startswith(f"{PREFIX}.{host_id}.")}
        with self.db.begin() as conn:
            return conn.execute(delete(host_credentials).where(host_credentials.c.host_id == host_id)).rowcount > 0

    def joined_from(self, host_id: str) -> dict[str, str] | None:
        """How ``cloudlet host add`` joined ``host_id`` (see the table); None for any other host."""
        with self.db.read() as conn:
            return conn.execute(select(host_credentials.c.joined)
                                .where(host_credentials.c.host_id == host_id)).scalar()

    def verify(self, token: str) -> AgentIdentity | None:
        """Who ``token`` is, or None when it is no valid credential (compared in constant time)."""
        if not token:
            return None
        if hmac.compare_digest(token.encode(), self._key):
            return AgentIdentity(None)
        parts = token.split(".")
        if len(parts) != 4 or parts[0] != PREFIX or not parts[2].isdigit():
            return None
        host_id, serial = parts[1], int(parts[2])
        if not hmac.compare_digest(parts[3].encode(), self._mac(host_id, serial).encode()):
            return None
        now = time.monotonic()
        with self._lock:
            if self._verified.get(token, 0.0) > now:
                return AgentIdentity(host_id)
        with self.db.read() as conn:
            current = conn.execute(select(host_credentials.c.serial)
                                   .where(host_credentials.c.host_id == host_id)).scalar()
        if current != serial:
            return None
        with self._lock:
            self._verified = {key: until for key, until in self._verified.items() if until > now}
            self._verified[token] = now + VERIFIED_FOR_S
        return AgentIdentity(host_id)

    def trusts(self, token: str) -> bool:
        """Whether ``token`` is any agent's credential (an API relay's proof that it is an agent)."""
        return self.verify(token) is not None

    def token_for(self, host_id: str) -> str:
        """What the controller presents when it calls ``host_id``'s agent: its own credential if it has one."""
        now = time.monotonic()
        with self._lock:
            cached = self._presented.get(host_id)
        if cached is not None and cached[1] > now:
            return cached[0]
        with self.db.read() as conn:
            serial = conn.execute(select(host_credentials.c.serial)
                                  .where(host_credentials.c.host_id == host_id)).scalar()
        token = self.shared_token if serial is None else self._token(host_id, serial)
        with self._lock:
            self._presented[host_id] = (token, now + VERIFIED_FOR_S)
        return token
