"""A second libvirtd on the same machine, so two simulated hosts can live-migrate between each other.

libvirt refuses to migrate a domain to the libvirtd it comes from (same host UUID and hostname), and two
daemons cannot share ``/run/libvirt`` or ``/var/lib/libvirt/qemu``. This one runs in its own mount and UTS
namespaces (``unshare -m -u``) over private copies of those directories and of ``/etc/libvirt`` (with its own
``host_uuid``), writes guest consoles to files itself (``stdio_handler = "file"``: no virtlogd), uses its own
range of incoming migration ports, and listens on a socket outside the private mounts that the root
namespace reaches: :attr:`SecondLibvirtd.uri`.

Only for the one-machine lab: real hosts each have their own libvirtd.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

#: Incoming migration ports of the second daemon, apart from the system daemon's 49152-49215.
MIGRATION_PORTS = (49400, 49463)

_PRIVATE = {"etc": "/etc/libvirt", "run": "/run/libvirt", "lib": "/var/lib/libvirt/qemu",
            "cache": "/var/cache/libvirt", "log": "/var/log/libvirt"}


class SecondLibvirtd:
    """Start with :meth:`start`, always :meth:`stop` (it also kills the guests this daemon still runs)."""

    def __init__(self, base: Path, hostname: str) -> None:
        self.base = base
        self.hostname = hostname
        self.socket = base / "sock" / "libvirt-sock"
        self.uri = f"qemu+unix:///system?socket={self.socket}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> None:
        for name in (*_PRIVATE, "sock"):
            (self.base / name).mkdir(parents=True, exist_ok=True)
        etc = self.base / "etc"
        shutil.rmtree(etc)
        shutil.copytree("/etc/libvirt", etc, symlinks=True)
        autostart = etc / "qemu" / "networks" / "autostart"
        shutil.rmtree(autostart, ignore_errors=True)  # the system daemon owns the default network
        with (etc / "libvirtd.conf").open("a") as conf:
            conf.write(f'\nhost_uuid = "{uuid.uuid4()}"\nunix_sock_dir = "{self.socket.parent}"\n')
        with (etc / "qemu.conf").open("a") as conf:
            conf.write(f'\nstdio_handler = "file"\nmigration_port_min = {MIGRATION_PORTS[0]}\n'
                       f'migration_port_max = {MIGRATION_PORTS[1]}\n')
        (self.base / "lib").chmod(0o755)
        mounts = "; ".join(f"mount --bind {self.base / name} {target}" if name != "run"
                           else f"mount -t tmpfs -o mode=0755 tmpfs {target}" for name, target in _PRIVATE.items())
        script = (f"set -e; mount --make-rprivate /; hostname {self.hostname}; {mounts}; mkdir -p /var/log/libvirt/qemu; "
                  f"exec libvirtd -p {self.base / 'libvirtd.pid'}")
        self.process = subprocess.Popen(["unshare", "-m", "-u", "sh", "-c", script], start_new_session=True,
                                        stdout=subprocess.DEVNULL, stderr=(self.base / "libvirtd.err").open("wb"))
        deadline = time.monotonic() + timeout
        while not self.answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                error = (self.base / "libvirtd.err").read_text(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"the second libvirtd did not come up: {error}")
            time.sleep(0.2)

    def answers(self) -> bool:
        return self.socket.exists() and subprocess.run(["virsh", "-c", self.uri, "version"],
                                                       capture_output=True).returncode == 0

    def domains(self) -> list[str]:
        out = subprocess.run(["virsh", "-c", self.uri, "list", "--all", "--name"], capture_output=True, text=True)
        return [line for line in out.stdout.split() if line]

    def stop(self) -> None:
        """Destroy and undefine every domain this daemon has, then end it (the guests' QEMUs with it)."""
        if self.process is None:
            return
        if self.answers():
            for name in self.domains():
                subprocess.run(["virsh", "-c", self.uri, "destroy", name], capture_output=True)
                subprocess.run(["virsh", "-c", self.uri, "undefine", name], capture_output=True)
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        self.process = None
