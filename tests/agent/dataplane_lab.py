"""Test instances for the VPC dataplane: namespaces plugged where a VM's tap would be, servers and probes.

Every instance namespace runs one small server answering its own name on a few TCP/UDP ports (IPv4 and
IPv6), so a probe learns *who* answered, not only that something did. Probes from one source run in
parallel inside that namespace (one Python process per source), with short timeouts for expected denials.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from agent.network import netns

TCP_PORTS = (22, 23, 80, 8080)
UDP_PORTS = (5353,)

SERVER = r"""
import selectors, socket, sys
name = sys.argv[1].encode()
sel = selectors.DefaultSelector()
for port in map(int, sys.argv[2].split(",")):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", port)); s.listen(64); s.setblocking(False)
    sel.register(s, selectors.EVENT_READ, "tcp")
for port in map(int, sys.argv[3].split(",")):
    u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    u.bind(("::", port)); u.setblocking(False)
    sel.register(u, selectors.EVENT_READ, "udp")
print("ready", flush=True)
while True:
    for key, _ in sel.select():
        sock = key.fileobj
        try:
            if key.data == "tcp":
                conn, _ = sock.accept()
                conn.setblocking(True)
                conn.settimeout(2)
                try:
                    conn.sendall(name + b"\n")
                finally:
                    conn.close()
            elif key.data == "udp":
                data, peer = sock.recvfrom(2048)
                sock.sendto(name, peer)
        except OSError:
            pass
"""

PROBE = r"""
import json, socket, subprocess, sys
from concurrent.futures import ThreadPoolExecutor
probes = json.load(sys.stdin)
def run(p):
    proto, ip, port, timeout = p["proto"], p["ip"], p.get("port", 0), p["timeout"]
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    try:
        if proto == "icmp":
            r = subprocess.run(["ping", "-6" if family == socket.AF_INET6 else "-4", "-c1", "-n", f"-W{timeout}", ip],
                               capture_output=True, timeout=timeout + 2)
            return "pong" if r.returncode == 0 else None
        if proto == "tcp":
            with socket.create_connection((ip, port), timeout=timeout) as s:
                s.settimeout(timeout)
                return s.recv(100).decode().strip() or None
        s = socket.socket(family, socket.SOCK_DGRAM)
        s.settimeout(timeout)
        s.sendto(b"hi", (ip, port))
        return s.recv(100).decode()
    except OSError:
        return None
with ThreadPoolExecutor(64) as pool:
    print(json.dumps(list(pool.map(run, probes))))
"""


@dataclass
class Instance:
    """A namespace standing for an instance: its name doubles as the server's answer."""

    netns: str
    ipv4: str | None = None
    prefix: int = 24
    gateway: str | None = None
    ipv6: str | None = None
    gateway6: str | None = None
    server: subprocess.Popen[str] | None = None


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, text=True)


def create_instance(name: str) -> Instance:
    netns.create(name)
    sh("ip", "-n", name, "link", "set", "lo", "up")
    return Instance(name)


def configure(instance: Instance, ipv4: str | None, prefix: int, gateway: str | None,
              ipv6: str | None = None, gateway6: str | None = None, device: str = "eth0") -> None:
    """Static addressing inside the instance (what DHCP would give a VM), then start its server."""
    instance.ipv4, instance.prefix, instance.gateway = ipv4, prefix, gateway
    instance.ipv6, instance.gateway6 = ipv6, gateway6
    ns = instance.netns
    netns.write_sysctls(ns, {"net/ipv6/conf/all/accept_dad": "0", "net/ipv6/conf/default/accept_dad": "0",
                             f"net/ipv6/conf/{device}/accept_dad": "0",
                             f"net/ipv6/conf/{device}/accept_ra": "0"})
    sh("ip", "-n", ns, "link", "set", device, "up")
    if ipv4:
        sh("ip", "-n", ns, "addr", "replace", f"{ipv4}/{prefix}", "dev", device)
        if gateway:
            sh("ip", "-n", ns, "route", "replace", "default", "via", gateway)
    if ipv6:
        sh("ip", "-n", ns, "-6", "addr", "replace", f"{ipv6}/64", "dev", device, "nodad")
        if gateway6:
            sh("ip", "-n", ns, "-6", "route", "replace", "default", "via", gateway6)
    start_server(instance)


def wait_ipv6(instances: list[Instance], timeout: float = 10.0) -> None:
    """Wait until each instance reaches its IPv6 gateway: neighbour discovery settles a moment after a link
    comes up (as a VM's would while it boots); IPv4 needs no such wait."""
    pending = [i for i in instances if i.ipv6 and i.gateway6]
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        pending = [i for i in pending if subprocess.run(
            ["nsenter", f"--net={netns.path(i.netns)}", "ping", "-6", "-c1", "-W0.3", "-n", i.gateway6 or ""],
            capture_output=True).returncode != 0]
    if pending:
        raise RuntimeError(f"IPv6 never came up in {[i.netns for i in pending]}")


def start_server(instance: Instance) -> None:
    if instance.server is not None:
        return
    proc = subprocess.Popen(["nsenter", f"--net={netns.path(instance.netns)}", sys.executable, "-c", SERVER,
                             instance.netns, ",".join(map(str, TCP_PORTS)), ",".join(map(str, UDP_PORTS))],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "ready" not in line:
        raise RuntimeError(f"server in {instance.netns} did not start: {proc.stderr.read() if proc.stderr else ''}")
    instance.server = proc


def destroy(instance: Instance) -> None:
    if instance.server is not None:
        os.killpg(instance.server.pid, signal.SIGKILL)
        instance.server.wait()
        instance.server = None
    netns.remove(instance.netns)


def plug_internet_host(internet_netns: str, instance: Instance, port: str) -> None:
    """A veth from the lab Internet's ``world`` bridge into ``instance`` (the tests' "rest of the world")."""
    sh("ip", "link", "add", port, "netns", internet_netns, "type", "veth", "peer", "name", "eth0",
       "netns", instance.netns)
    sh("ip", "-n", internet_netns, "link", "set", port, "master", "world", "up")


@dataclass(frozen=True)
class Probe:
    """One reachability case: from ``src`` to ``ip`` over ``proto``; ``expect`` is the answering instance's
    name (TCP/UDP), ``pong`` (ICMP), or None for "must not get through"."""

    label: str
    src: str
    proto: str
    ip: str
    port: int = 0
    expect: str | None = None


def run_probes(probes: list[Probe], allow_timeout: float = 2.0, deny_timeout: float = 0.4) -> dict[Probe, str | None]:
    """Run every probe, all sources at once; returns what each one got back."""
    by_source: dict[str, list[Probe]] = {}
    for probe in probes:
        by_source.setdefault(probe.src, []).append(probe)

    def run_source(src: str) -> list[tuple[Probe, str | None]]:
        batch = by_source[src]
        payload = [{"proto": p.proto, "ip": p.ip, "port": p.port,
                    "timeout": allow_timeout if p.expect else deny_timeout} for p in batch]
        out = subprocess.run(["nsenter", f"--net={netns.path(src)}", sys.executable, "-c", PROBE],
                             input=json.dumps(payload), capture_output=True, text=True, timeout=60, check=True)
        return list(zip(batch, json.loads(out.stdout), strict=True))

    results: dict[Probe, str | None] = {}
    with ThreadPoolExecutor(max(1, len(by_source))) as pool:
        for pairs in pool.map(run_source, by_source):
            results.update(pairs)
    return results


def failures(results: dict[Probe, str | None]) -> list[str]:
    return [f"{p.label}: {p.src} -> {p.proto} {p.ip}:{p.port} expected {p.expect!r}, got {got!r}"
            for p, got in results.items() if got != p.expect]
