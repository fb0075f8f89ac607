"""TCP throughput from the LAN to an instance at its Elastic IP through the nat uplink, against a plain veth.

Both paths are built in the same run, out of namespaces (root, Linux; nothing leaves them):

* ``eip``: a LAN client (198.18.5.10) sends to the instance's EIP 198.18.5.201. The "host" namespace answers
  ARP for the EIP (proxy entry), forwards it over ``<prefix>uplink`` into the Internet namespace, which routes
  it over the VPC's IGW veth to the router namespace, where the EIP is DNAT-ed 1:1, security groups and NACLs
  are evaluated, and the bridge delivers it to the instance: three namespace hops, two nft rulesets and the
  bridge, every hop a veth.
* ``veth``: the same sender and receiver across one veth pair between two namespaces (the limit).

A trial sends with 1 MiB writes for ``--seconds`` and the receiver acknowledges the byte count at EOF, so
the rate covers delivery. Trials alternate between the two paths; medians and the ratio are printed.
iperf3 is not installed on these hosts, hence the Python sender (it is the same on both paths).

    sudo .venv/bin/python bench/bench_uplink.py [--trials 5] [--seconds 2]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import report  # noqa: E402

from agent.contract.network import (
    Attachment,
    ElasticIp,
    Eni,
    HostNetwork,
    NaclEntry,
    NetworkAcl,
    Route,
    RouteTable,
    SecurityGroup,
    SgRule,
    Subnet,
    Uplink,
    Vpc,
)
from agent.network import naming, netns  # noqa: E402
from agent.network.dataplane import Dataplane  # noqa: E402
from agent.network.uplink import HostUplink  # noqa: E402

PORT = 5201
EIP = "198.18.5.201"
RECEIVER = r"""
import socket, sys
server = socket.create_server(("0.0.0.0", int(sys.argv[1])))
print("ready", flush=True)
while True:
    conn, _ = server.accept()
    total = 0
    while True:
        chunk = conn.recv(1 << 20)
        if not chunk:
            break
        total += len(chunk)
    conn.sendall(str(total).encode())
    conn.close()
"""
SENDER = r"""
import socket, sys, time
ip, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
data = b"x" * (1 << 20)
conn = socket.create_connection((ip, port), timeout=10)
start = time.monotonic()
while time.monotonic() - start < seconds:
    conn.sendall(data)
conn.shutdown(socket.SHUT_WR)
total = int(conn.recv(100))
print(total * 8 / (time.monotonic() - start) / 1e9)
"""


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, text=True)


def document(prefix: str, instance_ns: str) -> HostNetwork:
    allow_all = [NaclEntry(100, False, "allow", "0.0.0.0/0"), NaclEntry(100, True, "allow", "0.0.0.0/0")]
    vpc = Vpc("vpc-bench", ["10.61.0.0/16"], "rtb-bench", "acl-bench",
              subnets=[Subnet("subnet-bench", "10.61.1.0/24", "az1")],
              route_tables=[RouteTable("rtb-bench", [Route("10.61.0.0/16", "local"), Route("0.0.0.0/0", "igw-b")])],
              network_acls=[NetworkAcl("acl-bench", allow_all)],
              security_groups=[SecurityGroup("sg-bench", [SgRule("tcp", PORT, PORT, cidr="0.0.0.0/0")],
                                             [SgRule("-1", cidr="0.0.0.0/0")])],
              enis=[Eni("eni-bench", "subnet-bench", naming.mac_for("bench:instance"), ["10.61.1.10"], [],
                        ["sg-bench"], attachment=Attachment("pbench", "veth", instance_ns))],
              internet_gateway_id="igw-b", elastic_ips=[ElasticIp("eipalloc-b", EIP, "10.61.1.10", "eni-bench")])
    return HostNetwork("host-bench", [vpc], name_prefix=prefix,
                       uplink=Uplink(mode="nat", public_pool="198.18.5.200-198.18.5.220", lan_pool=True))


def trial(src: str, ip: str, seconds: float) -> float:
    out = subprocess.run(["nsenter", f"--net={netns.path(src)}", sys.executable, "-c", SENDER, ip, str(PORT), str(seconds)],
                         capture_output=True, text=True, check=True, timeout=seconds + 30)
    return float(out.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    run = uuid.uuid4().hex[:4]
    prefix = f"cl-b{run}-"
    names = {n: f"cl-b{run}-{n}" for n in ("host", "client", "inst", "va", "vb")}
    receivers: list[subprocess.Popen[str]] = []
    dataplane = Dataplane(f"/tmp/cloudlet-bench-uplink-{run}",
                          uplink=HostUplink("nat", interface="eth0", host_netns=names["host"]))
    try:
        for ns in names.values():
            netns.create(ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "link", "add", "eth0", "netns", names["host"], "type", "veth", "peer", "name", "eth0",
           "netns", names["client"])
        sh("ip", "link", "add", "eth0", "netns", names["va"], "type", "veth", "peer", "name", "eth0",
           "netns", names["vb"])
        for ns, address in ((names["host"], "198.18.5.2/24"), (names["client"], "198.18.5.10/24"),
                            (names["va"], "198.18.6.1/24"), (names["vb"], "198.18.6.2/24")):
            sh("ip", "-n", ns, "addr", "add", address, "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
        dataplane.apply(document(prefix, names["inst"]))
        sh("ip", "-n", names["inst"], "addr", "add", "10.61.1.10/24", "dev", "eth0")
        sh("ip", "-n", names["inst"], "link", "set", "eth0", "up")
        sh("ip", "-n", names["inst"], "route", "add", "default", "via", "10.61.1.1")
        for ns in (names["inst"], names["vb"]):
            proc = subprocess.Popen(["nsenter", f"--net={netns.path(ns)}", sys.executable, "-c", RECEIVER, str(PORT)],
                                    stdout=subprocess.PIPE, text=True)
            receivers.append(proc)
            assert proc.stdout is not None and "ready" in proc.stdout.readline()
        rates: dict[str, list[float]] = {"eip": [], "veth": []}
        for _ in range(args.trials):
            rates["eip"].append(trial(names["client"], EIP, args.seconds))
            rates["veth"].append(trial(names["va"], "198.18.6.2", args.seconds))
        eip, veth = statistics.median(rates["eip"]), statistics.median(rates["veth"])
        print(f"TCP LAN -> instance, {args.trials} trials of {args.seconds:g} s, 1 MiB writes (median Gbit/s)")
        print(f"  through the nat uplink + EIP 1:1 NAT   {eip:7.2f}   (trials {' '.join(f'{r:.2f}' for r in rates['eip'])})")
        print(f"  plain veth pair (the limit)            {veth:7.2f}   (trials {' '.join(f'{r:.2f}' for r in rates['veth'])})")
        print(f"  ratio eip / veth                       {eip / veth:7.2f}")
        report("TCP LAN -> instance, Gbit/s through the nat uplink and EIP 1:1 NAT over a plain veth pair",
               eip / veth, "x", eip_gbit_s=eip, veth_gbit_s=veth)
    finally:
        for proc in receivers:
            proc.kill()
            proc.wait()
        dataplane.teardown(prefix)
        for ns in names.values():
            netns.remove(ns)
    return 0


if __name__ == "__main__":
    sys.exit(main())
