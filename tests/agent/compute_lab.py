"""A boot lab for real-VM compute tests and benches: an isolated network namespace with a bridge, DHCP
reservations (dnsmasq), an instance metadata responder on 169.254.169.254 and an SSH client (paramiko),
all inside the namespace, plus helpers to get libvirtd running and the tiny AMI built.

Nothing here reaches beyond the machine: the namespace has no uplink, so guests can talk only to the lab.
Every name starts with ``cl-`` and carries a per-run suffix, and :meth:`BootLab.close` removes it all.
"""

from __future__ import annotations

import ctypes
import io
import os
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pyroute2 import NetNS, netns

REPO = Path(__file__).resolve().parents[2]
IMAGES = REPO / "images"
TINY_MANIFEST = IMAGES / "out" / "tiny" / "manifest.json"
METADATA_IP = "169.254.169.254"
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


@contextmanager
def in_netns(name: str) -> Iterator[None]:
    """Run the body with the calling thread in network namespace ``name`` (sockets opened inside stay there)."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if _libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {name} failed")
        try:
            yield
        finally:
            if _libc.setns(own, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back to the agent's namespace failed")
    finally:
        os.close(own)
        os.close(target)


def ssh_in_namespace(namespace: str, address: str, key: paramiko.PKey, command: str, *, timeout: float = 90.0,
                     command_timeout: float = 30.0) -> str:
    """Run ``command`` as root on the guest at ``address`` from inside ``namespace`` (a VPC's router), retrying
    until SSH answers; the command must exit 0."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with in_netns(namespace):
                sock = socket.create_connection((address, 22), timeout=2.0)
            client = paramiko.SSHClient()
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
            try:
                client.connect(address, username="root", pkey=key, sock=sock, timeout=5, banner_timeout=10,
                               auth_timeout=10, allow_agent=False, look_for_keys=False)
                _, stdout, _ = client.exec_command(command, timeout=command_timeout)
                output = stdout.read().decode()
                status = stdout.channel.recv_exit_status()
            finally:
                client.close()
            assert status == 0, f"{command!r} exited {status}: {output}"
            return output
        except (OSError, paramiko.SSHException) as exc:
            last = exc
            time.sleep(0.3)
    raise AssertionError(f"no SSH to {address} in {namespace} within {timeout:.0f} s: {last}")


def ensure_libvirtd(timeout: float = 15.0) -> None:
    """Start virtlogd and libvirtd (no systemd here) unless they already answer."""
    def answers() -> bool:
        return subprocess.run(["virsh", "-c", "qemu:///system", "version"], capture_output=True).returncode == 0

    if answers():
        return
    for daemon in ("virtlogd", "libvirtd"):
        if subprocess.run(["pgrep", "-x", daemon], capture_output=True).returncode != 0:
            subprocess.run([daemon, "-d"], check=True)
    deadline = time.monotonic() + timeout
    while not answers():
        if time.monotonic() > deadline:
            raise RuntimeError("libvirtd did not answer on qemu:///system")
        time.sleep(0.2)


def vm_work_dir(name: str, run: str) -> Path:
    """A VM test's work dir with an empty ``data`` dir for its cloud, once libvirtd runs and the tiny AMI is
    built. Not under pytest's 0700 temp dirs: QEMU (libvirt-qemu) and dnsmasq (nobody) must traverse it."""
    ensure_libvirtd()
    build_tiny_image()
    work = Path("/var/tmp") / f"cl-e2e-{name}-{run}"
    work.mkdir(mode=0o755)
    (work / "data").mkdir(mode=0o700)
    return work


def destroy_leftover_domains(compute_dir: Path, libvirt_uri: str = "qemu:///system") -> None:
    """Destroy every domain and tap the agent that kept its compute state in ``compute_dir`` left on the
    libvirtd at ``libvirt_uri`` (a test's cleanup after its agent stopped)."""
    from agent.compute.libvirt_conn import LibvirtConnection
    from agent.compute.libvirt_driver import LibvirtDriver
    from agent.compute.spec import Accelerator

    driver = LibvirtDriver(compute_dir, Accelerator.TCG, connection=LibvirtConnection(libvirt_uri))
    try:
        for instance_id in driver.list_instances():
            driver.destroy(instance_id)
        inventory = driver.inventory()
        driver.remove_leftovers(taps=tuple(inventory.unplugged_taps | inventory.plugged_taps))
    finally:
        driver.connection.close()


def build_tiny_image() -> Path:
    """``make -C images tiny`` (a no-op when built) and the manifest's path."""
    result = subprocess.run(["make", "-C", str(IMAGES), "tiny"], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"building the tiny AMI failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return TINY_MANIFEST


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(9)[:17]}"


@dataclass
class KeyPair:
    private: paramiko.PKey
    public_line: str

    @classmethod
    def generate(cls) -> KeyPair:
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption()).decode()
        public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        return cls(paramiko.Ed25519Key.from_private_key(io.StringIO(pem)), public.decode() + " cloudlet-test")


@dataclass
class GuestRecord:
    instance_id: str
    ip: str
    mac: str
    public_key: str
    user_data: bytes | None
    hostname: str

    def tree(self) -> dict[str, object]:
        """The metadata tree EC2 serves (the part the tiny AMI and cloud-init's EC2 datasource read)."""
        return {
            "meta-data": {
                "ami-id": "ami-0c0ffee0c0ffee000", "instance-id": self.instance_id, "instance-type": "t3.micro",
                "hostname": self.hostname, "local-hostname": self.hostname, "local-ipv4": self.ip, "mac": self.mac,
                "placement": {"availability-zone": "lab-1a"},
                "public-keys": {"0": {"openssh-key": self.public_key + "\n"}},
            },
            **({"user-data": self.user_data} if self.user_data is not None else {}),
        }

    def read(self, path: str) -> bytes | None:
        """``/latest/...`` or ``/<version>/...``: a leaf's content or a directory listing, None for 404."""
        parts = [part for part in path.split("?")[0].split("/") if part]
        if not parts or not (parts[0] == "latest" or parts[0][:2] == "20"):
            return None
        node: object = self.tree()
        for part in parts[1:]:
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        if isinstance(node, dict):
            if parts[1:] == ["meta-data", "public-keys"]:
                return b"0=cloudlet-test"
            return "\n".join(f"{k}/" if isinstance(v, dict) else k for k, v in node.items()).encode()
        return node if isinstance(node, bytes) else str(node).encode()


@dataclass
class MetadataLog:
    requests: list[tuple[str, str, str, bool]] = field(default_factory=list)  # (ip, method, path, had token)


class _MetadataHandler(BaseHTTPRequestHandler):
    """IMDS as EC2 answers it: PUT /latest/api/token, then GETs with or without the token (v2 or v1)."""

    protocol_version = "HTTP/1.0"
    server: _MetadataServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
        pass

    def _answer(self, status: int, body: bytes = b"") -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self) -> None:  # noqa: N802 - http.server's naming
        self.server.log.requests.append((self.client_address[0], "PUT", self.path, False))
        if self.path != "/latest/api/token" or not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            self._answer(400)
            return
        token = secrets.token_urlsafe(24)
        self.server.tokens.add(token)
        self._answer(200, token.encode())

    def do_GET(self) -> None:  # noqa: N802
        token = self.headers.get("X-aws-ec2-metadata-token")
        self.server.log.requests.append((self.client_address[0], "GET", self.path, token is not None))
        if token is not None and token not in self.server.tokens:
            self._answer(401)
            return
        guest = self.server.guests.get(self.client_address[0])
        body = guest.read(self.path) if guest is not None else None
        self._answer(200, body) if body is not None else self._answer(404)


class _MetadataServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, sock: socket.socket) -> None:
        super().__init__((METADATA_IP, 80), _MetadataHandler, bind_and_activate=False)
        self.socket.close()
        self.socket = sock
        self.guests: dict[str, GuestRecord] = {}
        self.tokens: set[str] = set()
        self.log = MetadataLog()


class BootLab:
    """An isolated namespace ``cl-cv<hex>`` with bridge ``br0`` (10.251.0.1/24), DHCP and IMDS."""

    GATEWAY = "10.251.0.1"
    BRIDGE = "br0"

    def __init__(self, work_dir: Path) -> None:
        self.netns = f"cl-cv{secrets.token_hex(3)}"
        self.work_dir = work_dir
        self.dnsmasq: subprocess.Popen[bytes] | None = None
        self.metadata: _MetadataServer | None = None
        self._next_host = 10

    def start(self) -> BootLab:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        netns.create(self.netns)
        with NetNS(self.netns) as ns:
            ns.link("set", index=ns.link_lookup(ifname="lo")[0], state="up")
            ns.addr("add", index=ns.link_lookup(ifname="lo")[0], address=METADATA_IP, prefixlen=32)
            ns.link("add", ifname=self.BRIDGE, kind="bridge", address="02:c1:00:00:00:01")
            bridge = ns.link_lookup(ifname=self.BRIDGE)[0]
            ns.addr("add", index=bridge, address=self.GATEWAY, prefixlen=24)
            ns.link("set", index=bridge, state="up")
        (self.work_dir / "dhcp-hosts").write_text("")
        self.dnsmasq = subprocess.Popen(
            ["ip", "netns", "exec", self.netns, "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null",
             "--port=0", f"--interface={self.BRIDGE}", "--bind-interfaces", "--user=root", "--no-ping",
             "--dhcp-range=10.251.0.0,static,255.255.255.0,12h", f"--dhcp-hostsfile={self.work_dir / 'dhcp-hosts'}",
             f"--dhcp-leasefile={self.work_dir / 'leases'}", f"--dhcp-option=option:router,{self.GATEWAY}",
             "--dhcp-option=option:mtu,1500", f"--log-facility={self.work_dir / 'dnsmasq.log'}", "--log-dhcp"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with in_netns(self.netns):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((METADATA_IP, 80))
            sock.listen(64)
        self.metadata = _MetadataServer(sock)
        threading.Thread(target=self.metadata.serve_forever, name="lab-imds", daemon=True).start()
        return self

    def add_guest(self, instance_id: str, mac: str, public_key: str, user_data: bytes | None) -> GuestRecord:
        """A DHCP reservation for ``mac`` and the metadata the guest will fetch."""
        assert self.metadata is not None and self.dnsmasq is not None
        ip = f"10.251.0.{self._next_host}"
        self._next_host += 1
        with (self.work_dir / "dhcp-hosts").open("a") as f:
            f.write(f"{mac},{ip}\n")
        self.dnsmasq.send_signal(signal.SIGHUP)
        guest = GuestRecord(instance_id, ip, mac, public_key, user_data, f"ip-{ip.replace('.', '-')}.cloudlet.internal")
        self.metadata.guests[ip] = guest
        return guest

    def metadata_requests(self, ip: str) -> list[tuple[str, str, bool]]:
        assert self.metadata is not None
        return [(method, path, token) for client, method, path, token in self.metadata.log.requests if client == ip]

    def connect_ssh(self, ip: str, key: KeyPair, timeout: float = 60.0, user: str = "root") -> paramiko.SSHClient:
        """An SSH session as ``user``, retrying until the guest answers or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            try:
                with in_netns(self.netns):
                    sock = socket.create_connection((ip, 22), timeout=1.0)
            except OSError as exc:
                last_error = exc
                time.sleep(0.1)
                continue
            client = paramiko.SSHClient()
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
            try:
                client.connect(ip, username=user, pkey=key.private, sock=sock, timeout=5, banner_timeout=5,
                               auth_timeout=5, allow_agent=False, look_for_keys=False)
                return client
            except (paramiko.SSHException, OSError) as exc:
                last_error = exc
                client.close()
                time.sleep(0.2)
        raise TimeoutError(f"no SSH on {ip} within {timeout:.0f} s: {last_error}")

    def ssh_run(self, ip: str, key: KeyPair, command: str, timeout: float = 60.0,
                user: str = "root") -> tuple[int, str]:
        client = self.connect_ssh(ip, key, timeout, user)
        try:
            _, stdout, _ = client.exec_command(command, timeout=30)
            output = stdout.read().decode()
            return stdout.channel.recv_exit_status(), output
        finally:
            client.close()

    def links(self) -> set[str]:
        with NetNS(self.netns) as ns:
            return {link.get("IFLA_IFNAME") for link in ns.get_links()}

    def close(self) -> None:
        if self.metadata is not None:
            self.metadata.shutdown()
            self.metadata.server_close()
        if self.dnsmasq is not None:
            self.dnsmasq.terminate()
            try:
                self.dnsmasq.wait(5)
            except subprocess.TimeoutExpired:
                self.dnsmasq.kill()
        if self.netns in netns.listnetns():
            netns.remove(self.netns)
        shutil.rmtree(self.work_dir, ignore_errors=True)
