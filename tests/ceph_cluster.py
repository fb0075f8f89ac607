"""A throwaway single-node Ceph cluster with a RADOS Gateway, from Debian's packages, without systemd.

The cluster-backend tests and the S3 benchmark need a real S3-compatible store that is not Cloudlet
itself. Ceph's RGW is one an operator would run, so :class:`CephCluster` builds one in a temporary
directory the way the manual deployment guide does, scaled down to a test: a fresh fsid and config, one
monitor (``ceph-mon --mkfs`` then run), one manager, one BlueStore OSD on a sparse file (no LVM, no
ceph-volume: ``bluestore_block_path`` with ``bluestore_block_create``), pools of size 1 with the
no-redundancy warnings off, and radosgw with a user made by ``radosgw-admin``. Every daemon runs in the
foreground as our child, bound to 127.0.0.1 on free ports, with its data, sockets and logs under the
directory, so :meth:`CephCluster.stop` (kill the children, remove the directory) leaves nothing behind.
Memory stays modest: a small BlueStore cache without autotuning, few placement groups, no mgr modules
beyond the ones Ceph always loads.

    with CephCluster(Path("/tmp/x")) as ceph:   # or .start() / .stop()
        print(ceph.rgw_endpoint, ceph.access_key, ceph.secret_key)
"""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

import urllib3

#: The Debian packages the cluster needs (the Makefile installs them through ansible/ for ``make test``).
BINARIES = ("ceph-mon", "ceph-mgr", "ceph-osd", "radosgw", "radosgw-admin", "ceph", "ceph-authtool",
            "monmaptool")
#: The OSD's sparse block file: only what is written takes disk space.
BLOCK_SIZE = 10 << 30


def missing_binaries() -> list[str]:
    """The Ceph programs not on PATH (empty when the cluster can be built)."""
    return [name for name in BINARIES if shutil.which(name) is None]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def config_text(fsid: str, root: Path, mon_port: int, rgw_port: int) -> str:
    """ceph.conf for a one-OSD cluster whose every path is under ``root`` and every socket on loopback."""
    return f"""[global]
fsid = {fsid}
mon_host = v2:127.0.0.1:{mon_port}
public_addr = 127.0.0.1
public_network = 127.0.0.0/8
ms_bind_ipv4 = true
ms_bind_ipv6 = false
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
run_dir = {root}/run
admin_socket = {root}/run/$name.asok
pid_file = {root}/run/$name.pid
log_file = {root}/log/$name.log
log_to_stderr = false
err_to_stderr = true
mon_cluster_log_file = {root}/log/cluster.log
crash_dir = {root}/crash
# One OSD: pools of one copy, placed on one host, and no warnings about it.
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
mon_max_pg_per_osd = 1000
mon_data_avail_warn = 2
mon_data_avail_crit = 1
# Quick start: the monitor commits map changes at once instead of batching them for a second.
paxos_propose_interval = 0.05
paxos_min_wait = 0.01
# Quick start and little memory.
osd_memory_target = 939524096
bluestore_cache_autotune = false
bluestore_cache_size = 67108864
rocksdb_cache_size = 16777216

[client.admin]
keyring = {root}/keyring

[mon]
mon_data = {root}/mon/$name
keyring = $mon_data/keyring
mon_initial_members = a
mgr_initial_modules =

[mgr]
mgr_data = {root}/mgr/$name
keyring = $mgr_data/keyring

[osd]
osd_data = {root}/osd/$name
keyring = $osd_data/keyring
osd_objectstore = bluestore
bluestore_block_path = {root}/osd/$name.block
bluestore_block_create = true
bluestore_block_size = {BLOCK_SIZE}
bluestore_block_db_create = false
bluestore_block_wal_create = false
osd_crush_update_on_start = true
osd_op_num_shards = 1
osd_op_num_threads_per_shard = 2

[client.rgw.a]
rgw_data = {root}/rgw/$name
keyring = $rgw_data/keyring
rgw_frontends = beast endpoint=127.0.0.1:{rgw_port}
rgw_dns_name = 127.0.0.1
rgw_thread_pool_size = 32
"""


class CephCluster:
    """One monitor, one manager, one file-backed BlueStore OSD and radosgw, all children of this process."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.fsid = str(uuid.uuid4())
        self.mon_port = free_port()
        self.rgw_port = free_port()
        self.rgw_endpoint = f"http://127.0.0.1:{self.rgw_port}"
        self.access_key = "CLOUDLETCEPH" + secrets.token_hex(4).upper()
        self.secret_key = secrets.token_urlsafe(30)
        self.daemons: dict[str, subprocess.Popen[bytes]] = {}
        #: How long each start-up step took (seconds), for the report and the benchmark.
        self.timings: dict[str, float] = {}

    @property
    def conf(self) -> Path:
        return self.root / "ceph.conf"

    def __enter__(self) -> CephCluster:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    def start(self, timeout: float = 180) -> CephCluster:
        """Build and start the cluster; on any failure, what was started is stopped and the error raised
        with the daemons' log tails."""
        try:
            self._step("mon", self._start_monitor)
            self._step("mgr", self._start_manager)
            self._step("osd", lambda: self._start_osd(timeout))
            self._step("rgw", lambda: self._start_gateway(timeout))
        except BaseException as error:
            detail = self.log_tails()
            self.stop()
            if isinstance(error, Exception):
                raise RuntimeError(f"the Ceph cluster did not start: {error}\n{detail}") from error
            raise
        return self

    def stop(self) -> None:
        """Kill every daemon and remove the directory: the cluster is throwaway, nothing in it is kept."""
        for proc in self.daemons.values():
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        self.daemons.clear()
        shutil.rmtree(self.root, ignore_errors=True)

    @contextmanager
    def gateway_down(self, timeout: float = 60) -> Iterator[None]:
        """radosgw killed for the block (the cluster's S3 endpoint refuses connections), then started again."""
        gateway = self.daemons.pop("rgw.a")
        gateway.kill()
        gateway.wait()
        try:
            yield
        finally:
            self._daemon("rgw.a", "radosgw", "-n", "client.rgw.a")
            self._wait(self._gateway_answers, timeout, "radosgw to answer again")

    def ceph(self, *args: str, stdin: bytes | None = None, timeout: float = 60) -> str:
        """A ``ceph`` CLI command as client.admin against this cluster; its stdout."""
        return self._run("ceph", "--conf", str(self.conf), "--connect-timeout", "30", *args,
                         stdin=stdin, timeout=timeout)

    def log_tails(self, lines: int = 15) -> str:
        """The last lines of each daemon's log, to explain a failure."""
        out = []
        for log in sorted((self.root / "log").glob("*.log")):
            tail = log.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {log.name}\n" + "\n".join(tail))
        return "\n".join(out)

    def _step(self, name: str, action: Callable[[], None]) -> None:
        started = time.monotonic()
        action()
        self.timings[name] = round(time.monotonic() - started, 2)

    def _run(self, *argv: str, stdin: bytes | None = None, timeout: float = 60) -> str:
        done = subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:4])}… exited {done.returncode}: "
                               f"{done.stderr.decode(errors='replace')[-2000:]}")
        return done.stdout.decode()

    def _daemon(self, name: str, *argv: str) -> None:
        """Start a daemon in the foreground (``-f``) as our child, its stderr in log/<name>.stderr.log."""
        stderr = open(self.root / "log" / f"{name}.stderr.log", "wb")  # noqa: SIM115 - the child owns it
        with stderr:
            self.daemons[name] = subprocess.Popen([*argv, "--conf", str(self.conf), "-f"], stdin=subprocess.DEVNULL,
                                                  stdout=stderr, stderr=stderr, start_new_session=True)

    def _start_monitor(self) -> None:
        for sub in ("run", "log", "crash", "mon", "mgr/mgr.x", "osd/osd.0", "rgw/client.rgw.a"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.conf.write_text(config_text(self.fsid, self.root, self.mon_port, self.rgw_port))
        keyring = str(self.root / "keyring")
        self._run("ceph-authtool", "--create-keyring", keyring, "--gen-key", "-n", "mon.", "--cap", "mon", "allow *")
        self._run("ceph-authtool", keyring, "--gen-key", "-n", "client.admin", "--cap", "mon", "allow *",
                  "--cap", "osd", "allow *", "--cap", "mgr", "allow *", "--cap", "mds", "allow *")
        monmap = str(self.root / "monmap")
        self._run("monmaptool", "--create", "--fsid", self.fsid, "--addv", "a", f"[v2:127.0.0.1:{self.mon_port}]",
                  monmap)
        self._run("ceph-mon", "--conf", str(self.conf), "--mkfs", "-i", "a", "--monmap", monmap,
                  "--keyring", keyring)
        self._daemon("mon.a", "ceph-mon", "-i", "a")
        self.ceph("config", "set", "mon", "auth_allow_insecure_global_id_reclaim", "false")

    def _start_manager(self) -> None:
        keyring = self.root / "mgr" / "mgr.x" / "keyring"
        self.ceph("auth", "get-or-create", "mgr.x", "mon", "allow profile mgr", "osd", "allow *", "mds", "allow *",
                  "-o", str(keyring))
        self._daemon("mgr.x", "ceph-mgr", "-i", "x")

    def _start_osd(self, timeout: float) -> None:
        osd_uuid = str(uuid.uuid4())
        data = self.root / "osd" / "osd.0"
        key = self._run("ceph-authtool", "--gen-print-key").strip()
        osd_id = self.ceph("osd", "new", osd_uuid, "-i", "-",
                           stdin=json.dumps({"cephx_secret": key}).encode()).strip()
        if osd_id != "0":
            raise RuntimeError(f"expected osd.0, the monitor gave osd.{osd_id}")
        self._run("ceph-authtool", "--create-keyring", str(data / "keyring"), "--name", "osd.0", "--add-key", key)
        self._run("ceph-osd", "--conf", str(self.conf), "-i", "0", "--mkfs", "--osd-uuid", osd_uuid,
                  timeout=timeout)
        self._daemon("osd.0", "ceph-osd", "-i", "0")
        self._wait(lambda: '"num_up_osds":1' in self.ceph("osd", "stat", "--format", "json").replace(" ", ""),
                   timeout, "osd.0 to come up")

    def _start_gateway(self, timeout: float) -> None:
        keyring = self.root / "rgw" / "client.rgw.a" / "keyring"
        self.ceph("auth", "get-or-create", "client.rgw.a", "mon", "allow rw", "osd", "allow rwx", "mgr", "allow rw",
                  "-o", str(keyring))
        self._daemon("rgw.a", "radosgw", "-n", "client.rgw.a")
        self._wait(self._gateway_answers, timeout, "radosgw to answer")
        self._run("radosgw-admin", "--conf", str(self.conf), "user", "create", "--uid", "cloudlet",
                  "--display-name", "Cloudlet tests", "--access-key", self.access_key, "--secret", self.secret_key)

    def _gateway_answers(self) -> bool:
        try:
            response = urllib3.request("GET", self.rgw_endpoint, timeout=2, retries=False)
        except urllib3.exceptions.HTTPError:
            return False
        return response.status == 200

    def _wait(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            dead = [name for name, proc in self.daemons.items() if proc.poll() is not None]
            if dead:
                raise RuntimeError(f"{', '.join(dead)} exited while waiting for {what}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(0.2)
