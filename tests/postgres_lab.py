"""A private PostgreSQL cluster for tests: Debian's server binaries, ``initdb`` in a temporary folder, served on
a Unix socket in that folder only (no TCP listener, nothing another test or the host can reach by accident),
run as the ``postgres`` system user when the tests run as root (PostgreSQL refuses to run as root).

``python -m tests.postgres_lab DIR`` starts one by hand and prints its URL (stop it with ``pg_ctl -D DIR/data
stop``).
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import uuid
from pathlib import Path

#: Debian's packaged server (``make test`` installs ``postgresql``); newest major version first.
_DEBIAN_BINARIES = Path("/usr/lib/postgresql")


def server_binaries() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``, or None when PostgreSQL is not installed."""
    if not _DEBIAN_BINARIES.is_dir():
        return None
    for version in sorted(_DEBIAN_BINARIES.iterdir(), key=lambda path: int(path.name) if path.name.isdigit() else 0,
                          reverse=True):
        if (version / "bin" / "pg_ctl").exists():
            return version / "bin"
    return None


class PostgresCluster:
    """One cluster in ``folder``: :meth:`start`, :meth:`create_database` per cloud, :meth:`stop`."""

    def __init__(self, folder: Path) -> None:
        binaries = server_binaries()
        if binaries is None:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
        self.binaries = binaries
        self.folder = folder
        self.data = folder / "data"
        self.socket_dir = folder / "socket"
        self.port = 5432  # only names the socket file: the cluster listens on no TCP address
        self._as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def start(self) -> PostgresCluster:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        if self._as_postgres:
            shutil.chown(self.folder, "postgres")
            shutil.chown(self.socket_dir, "postgres")
            self.folder.chmod(0o755)
            # the folders above a pytest tmp dir are root's 0700: the postgres user must reach its own folder
            for parent in self.folder.parents:
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    parent.chmod(mode & 0o7777 | 0o711)
        self._run("initdb", "-D", str(self.data), "-U", "cloudlet", "--auth=trust", "-E", "UTF8", "--no-sync")
        options = (f"-c listen_addresses='' -c unix_socket_directories={self.socket_dir} -p {self.port}"
                   " -c max_connections=300 -c shared_buffers=32MB -c fsync=on")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "server.log"), "-o", options, "-w",
                  "-t", "60", "start")
        return self

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of ``database`` on this cluster (psycopg, over the private socket)."""
        return f"postgresql+psycopg://cloudlet@/{database}?host={self.socket_dir}&port={self.port}"

    def create_database(self, prefix: str = "cloudlet") -> str:
        """A new empty database (named ``prefix`` plus a random suffix), as a URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        self._run("createdb", "-h", str(self.socket_dir), "-p", str(self.port), "-U", "cloudlet", name)
        return self.url(name)

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run([*self._as_postgres, str(self.binaries / tool), *args], capture_output=True,
                              text=True, timeout=120, cwd="/")
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr or done.stdout}")


#: ``CLOUDLET_TEST_DATABASE=postgresql`` puts every test cloud (``tests/support.py``) on PostgreSQL.
TEST_DATABASE_ENV = "CLOUDLET_TEST_DATABASE"
_shared: PostgresCluster | None = None
_shared_lock = threading.Lock()


def test_clouds_on_postgres() -> bool:
    return os.environ.get(TEST_DATABASE_ENV, "sqlite") == "postgresql"


def shared_cluster() -> PostgresCluster:
    """This test process's cluster, started on first use and stopped (its folder removed) when it exits."""
    global _shared
    with _shared_lock:
        if _shared is None:
            folder = Path(tempfile.mkdtemp(prefix="cloudlet-pg-"))
            cluster = PostgresCluster(folder).start()
            atexit.register(shutil.rmtree, folder, ignore_errors=True)
            atexit.register(cluster.stop)  # runs first
            _shared = cluster
        return _shared


if __name__ == "__main__":
    cluster = PostgresCluster(Path(sys.argv[1]).resolve()).start()
    print(cluster.create_database())
