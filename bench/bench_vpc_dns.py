"""VPC resolver: DNS queries per second and latency from an instance namespace (root, Linux).

One VPC with one veth instance and a resolver holding ``--records`` private names. From inside the instance
namespace a client asks for those names (rotating) at the VPC's base+2 address, through the instance's veth,
the subnet bridge and the router namespace's input chain, to the router's dnsmasq:

* ``latency``: one question in flight at a time, p50/p99;
* ``qps``: ``--window`` questions in flight on one UDP socket for ``--seconds``.

The limit, measured in the same run with the same dnsmasq binary: a dnsmasq in a namespace of its own that
answers the very same names from a local hosts file (``addn-hosts``), asked by the same client from inside
that namespace over its loopback (no veth, bridge, router or ruleset on the way). Ratios are VPC / limit.

    sudo .venv/bin/python bench/bench_vpc_dns.py [--records 1000] [--trials 3]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import report  # noqa: E402

from agent.contract.network import (
    RESOLVER_V4,
    Attachment,
    DnsRecord,
    Eni,
    HostNetwork,
    NaclEntry,
    NetworkAcl,
    Route,
    RouteTable,
    SecurityGroup,
    Subnet,
    Vpc,
    VpcDns,
)
from agent.network import dns, naming, netns  # noqa: E402
from agent.network.dataplane import Dataplane  # noqa: E402

DOMAIN = "home-1.compute.internal"
LIMIT_ADDRESS = "10.61.0.2"


def names(count: int) -> list[tuple[str, str]]:
    pairs = []
    for i in range(count):
        ip = f"10.61.{1 + i // 250}.{1 + i % 250}"
        pairs.append((f"ip-{ip.replace('.', '-')}.{DOMAIN}", ip))
    return pairs


def document(prefix: str, instance_ns: str, records: list[tuple[str, str]]) -> HostNetwork:
    eni = Eni("eni-client", "subnet-dns", naming.mac_for("bench:dns"), ["10.61.200.10"], [], ["sg-dns"],
              attachment=Attachment("pdnsbench", "veth", instance_ns))
    vpc = Vpc("vpc-dnsbench", ["10.61.0.0/16"], "rtb-dns", "acl-dns",
              subnets=[Subnet("subnet-dns", "10.61.200.0/24", "az1")],
              route_tables=[RouteTable("rtb-dns", [Route("10.61.0.0/16", "local")])],
              network_acls=[NetworkAcl("acl-dns", [NaclEntry(100, False, "allow", "0.0.0.0/0"),
                                                   NaclEntry(100, True, "allow", "0.0.0.0/0")])],
              security_groups=[SecurityGroup("sg-dns")], enis=[eni],
              dns=VpcDns(["10.61.0.2", RESOLVER_V4], DOMAIN, [DnsRecord(n, a) for n, a in records]))
    return HostNetwork("bench", [vpc], name_prefix=prefix)


def latencies(ns: str, server: str, queries: list[bytes]) -> list[float]:
    """Seconds per question, one in flight at a time."""
    def run() -> list[float]:
        taken = []
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(2)
            sock.connect((server, 53))
            for query in queries:
                started = time.perf_counter()
                sock.send(query)
                while sock.recv(4096)[:2] != query[:2]:
                    pass
                taken.append(time.perf_counter() - started)
        return taken

    return netns.run_inside(ns, run)


def throughput(ns: str, server: str, queries: list[bytes], window: int, seconds: float) -> float:
    """Answers per second with ``window`` questions in flight (a lost one is sent again after 0.5 s)."""
    def run() -> float:
        answered = 0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(0.5)
            sock.connect((server, 53))
            sent = 0
            for _ in range(window):
                sock.send(queries[sent % len(queries)])
                sent += 1
            started = time.perf_counter()
            while time.perf_counter() - started < seconds:
                try:
                    sock.recv(4096)
                    answered += 1
                except TimeoutError:
                    pass
                sock.send(queries[sent % len(queries)])
                sent += 1
            elapsed = time.perf_counter() - started
        return answered / elapsed

    return netns.run_inside(ns, run)


def check_answer(ns: str, server: str, record: tuple[str, str]) -> None:
    """Both resolvers must really answer the names (not merely reply): one question, its A record."""
    def ask() -> dns.Message:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(2)
            sock.connect((server, 53))
            sock.send(dns.encode_query(record[0]))
            return dns.parse(sock.recv(4096))

    message = netns.run_inside(ns, ask)
    if message.answers != [("A", record[1])]:
        raise RuntimeError(f"{server} answered {record[0]} with {message.rcode} {message.answers}")


def start_limit(ns: str, directory: str, records: list[tuple[str, str]]) -> subprocess.Popen[bytes]:
    """The same dnsmasq answering the same names from a hosts file, on an address of its namespace's lo."""
    subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
    subprocess.run(["ip", "-n", ns, "addr", "add", f"{LIMIT_ADDRESS}/32", "dev", "lo"], check=True)
    hosts = Path(directory) / "hosts"
    hosts.write_text("".join(f"{address} {name}\n" for name, address in records))
    conf = Path(directory) / "dnsmasq.conf"
    conf.write_text("\n".join(["port=53", "no-resolv", "no-hosts", "bind-interfaces",
                               f"listen-address={LIMIT_ADDRESS}", f"addn-hosts={hosts}", "local=/#/",
                               f"local-ttl={dns.LOCAL_TTL}"]) + "\n")
    os.chmod(directory, 0o755)
    proc = subprocess.Popen(["nsenter", f"--net={netns.path(ns)}", "dnsmasq", "-k", f"--conf-file={conf}"])
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            if latencies(ns, LIMIT_ADDRESS, [dns.encode_query(records[0][0])]):
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the limit dnsmasq did not answer")


def summary(lat: list[float], qps: list[float]) -> dict[str, float]:
    lat = sorted(lat)
    return {"p50_ms": statistics.median(lat) * 1e3, "p99_ms": lat[int(len(lat) * 0.99) - 1] * 1e3,
            "qps": statistics.median(qps)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--latency-queries", type=int, default=2000)
    parser.add_argument("--window", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench_vpc_dns: needs root (network namespaces); skipped")
        return 0
    run = uuid.uuid4().hex[:5]
    prefix = f"cl-{run}-"
    instance_ns, limit_ns = f"cl-{run}-i-dns", f"cl-{run}-dnslimit"
    records = names(args.records)
    queries = [dns.encode_query(name, ident=i % 65536) for i, (name, _) in enumerate(records)]
    lat_queries = (queries * (1 + args.latency_queries // len(queries)))[:args.latency_queries]
    dataplane = Dataplane(run_dir=f"/tmp/cloudlet-bench-{run}")
    limit = None
    with tempfile.TemporaryDirectory(prefix="cl-dnsbench-") as directory:
        try:
            for ns in (instance_ns, limit_ns):
                netns.create(ns)
            dataplane.apply(document(prefix, instance_ns, records))
            subprocess.run(["ip", "-n", instance_ns, "addr", "add", "10.61.200.10/24", "dev", "eth0"], check=True)
            subprocess.run(["ip", "-n", instance_ns, "link", "set", "eth0", "up"], check=True)
            subprocess.run(["ip", "-n", instance_ns, "route", "add", "default", "via", "10.61.200.1"], check=True)
            limit = start_limit(limit_ns, directory, records)
            for ns, server in ((instance_ns, "10.61.0.2"), (limit_ns, LIMIT_ADDRESS)):
                check_answer(ns, server, records[-1])
            results: dict[str, tuple[list[float], list[float]]] = {"vpc": ([], []), "limit": ([], [])}
            for _ in range(args.trials):
                for label, ns, server in (("vpc", instance_ns, "10.61.0.2"), ("limit", limit_ns, LIMIT_ADDRESS)):
                    results[label][0].extend(latencies(ns, server, lat_queries))
                    results[label][1].append(throughput(ns, server, queries, args.window, args.seconds))
            vpc, lim = summary(*results["vpc"]), summary(*results["limit"])
        finally:
            if limit is not None:
                limit.terminate()
                limit.wait(timeout=5)
            dataplane.teardown(prefix)
            for ns in (instance_ns, limit_ns):
                netns.remove(ns)
    print(f"VPC resolver, {args.records} records, {args.trials} trials "
          f"({args.latency_queries} sequential questions, then {args.window} in flight for {args.seconds} s)")
    print(f"{'':>26} {'qps':>9} {'p50 ms':>8} {'p99 ms':>8}")
    print(f"{'VPC resolver (base+2)':>26} {vpc['qps']:>9.0f} {vpc['p50_ms']:>8.3f} {vpc['p99_ms']:>8.3f}")
    print(f"{'dnsmasq + hosts file':>26} {lim['qps']:>9.0f} {lim['p50_ms']:>8.3f} {lim['p99_ms']:>8.3f}")
    print(f"{'ratio VPC / limit':>26} {vpc['qps'] / lim['qps']:>9.2f} {vpc['p50_ms'] / lim['p50_ms']:>8.2f} "
          f"{vpc['p99_ms'] / lim['p99_ms']:>8.2f}")
    report("VPC resolver, qps over the same dnsmasq answering from a hosts file", vpc["qps"] / lim["qps"],
           "x", vpc_qps=vpc["qps"], limit_qps=lim["qps"])
    report("VPC resolver, p99 latency over the same dnsmasq answering from a hosts file",
           vpc["p99_ms"] / lim["p99_ms"], "x", vpc_p99_ms=vpc["p99_ms"], limit_p99_ms=lim["p99_ms"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
