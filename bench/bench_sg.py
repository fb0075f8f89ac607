"""Security-group change to enforcement, with a group attached to 1, 100 and 1,000 ENIs (root, Linux).

For each size: one VPC, one subnet, N ENIs in group ``sg-bench`` (each a real veth port into a shared
"instances" namespace, so the bridge, anti-spoofing and netlink dumps are all at scale), plus a client ENI.
A trial adds one ingress rule to ``sg-bench`` (the AuthorizeSecurityGroupIngress a controller would turn
into a new document) and times:

* ``apply``: ``Dataplane.apply(new document)``: plan, netlink diff, one ``nft -f`` per namespace;
* ``enforced``: from the start of apply until a TCP connection the new rule allows gets through;
* ``nft -f``: loading the very same ruleset text with ``nft -f`` alone (the physical limit).

Targets (issue 5): enforced < 1 s at 1,000 ENIs, apply within 2x of raw ``nft -f``.

    sudo .venv/bin/python bench/bench_sg.py [--sizes 1,100,1000] [--trials 7]
"""

from __future__ import annotations

import argparse
import copy
import socket
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import report  # noqa: E402

from agent.contract.network import (
    Attachment,
    Eni,
    HostNetwork,
    NaclEntry,
    NetworkAcl,
    Route,
    RouteTable,
    SecurityGroup,
    SgRule,
    Subnet,
    Vpc,
)
from agent.network import naming, netns  # noqa: E402
from agent.network.dataplane import Dataplane  # noqa: E402

PORT = 8080
#: Issue 5's targets: a new rule enforced within ENFORCED_S at TARGET_ENIS ENIs, and apply within
#: APPLY_RATIO times a raw ``nft -f`` of the same ruleset.
TARGET_ENIS = 1000
ENFORCED_S = 1.0
APPLY_RATIO = 2.0


def document(prefix: str, size: int, instances_ns: str, client_ns: str) -> HostNetwork:
    enis = []
    for i in range(size):
        ip = f"10.60.{4 + i // 250}.{1 + i % 250}"
        enis.append(Eni(f"eni-b{i:05d}", "subnet-bench", naming.mac_for(f"bench:{i}"), [ip], [], ["sg-bench"],
                        attachment=Attachment(f"p{i:05d}", "veth", instances_ns, f"g{i:05d}")))
    enis.append(Eni("eni-client", "subnet-bench", naming.mac_for("bench:client"), ["10.60.200.10"], [],
                    ["sg-client"], attachment=Attachment("pclient", "veth", client_ns)))
    allow_all = [NaclEntry(100, False, "allow", "0.0.0.0/0"), NaclEntry(100, True, "allow", "0.0.0.0/0")]
    vpc = Vpc("vpc-bench", ["10.60.0.0/16"], "rtb-bench", "acl-bench",
              subnets=[Subnet("subnet-bench", "10.60.0.0/16", "az1")],
              route_tables=[RouteTable("rtb-bench", [Route("10.60.0.0/16", "local")])],
              network_acls=[NetworkAcl("acl-bench", allow_all)],
              security_groups=[SecurityGroup("sg-bench", [SgRule("tcp", 22, 22, cidr="10.0.0.0/8")],
                                             [SgRule("-1", cidr="0.0.0.0/0")]),
                               SecurityGroup("sg-client", [], [SgRule("-1", cidr="0.0.0.0/0")])],
              enis=enis)
    return HostNetwork("bench", [vpc], name_prefix=prefix)


def listen(ns: str, ip: str) -> socket.socket:
    def make() -> socket.socket:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((ip, PORT))
        server.listen(128)
        return server

    return netns.run_inside(ns, make)


def connects(ns: str, ip: str, timeout: float) -> bool:
    def attempt() -> bool:
        try:
            with socket.create_connection((ip, PORT), timeout=timeout):
                return True
        except OSError:
            return False

    return netns.run_inside(ns, attempt)


def setup_instances(ns: str, device_ips: list[tuple[str, str]]) -> None:
    """Address the guest ends inside the instances namespace (what each VM would do itself)."""
    from pyroute2 import IPRoute

    with IPRoute(netns=ns) as ipr:
        for device, ip in device_ips:
            index = ipr.link_lookup(ifname=device)[0]
            ipr.addr("replace", index=index, address=ip, prefixlen=16)
            ipr.link("set", index=index, state="up")


def bench_size(size: int, trials: int) -> dict[str, float]:
    run = uuid.uuid4().hex[:5]
    prefix = f"cl-{run}-"
    instances_ns, client_ns = f"cl-{run}-i-many", f"cl-{run}-i-client"
    for ns in (instances_ns, client_ns):
        netns.create(ns)
    dataplane = Dataplane(run_dir=f"/tmp/cloudlet-bench-{run}")
    base = document(prefix, size, instances_ns, client_ns)
    try:
        setup_started = time.monotonic()
        dataplane.apply(base)
        setup = time.monotonic() - setup_started
        target_ip = base.vpcs[0].enis[0].private_ips[0]
        # Only the target guest needs an address; every other port still weighs on bridge and dumps.
        setup_instances(instances_ns, [("g00000", target_ip)])
        setup_instances(client_ns, [("eth0", "10.60.200.10")])
        server = listen(instances_ns, target_ip)
        assert not connects(client_ns, target_ip, 0.3), "the port must be closed before the rule"
        applies, enforced, raw = [], [], []
        router = naming.router_netns(prefix, "vpc-bench")
        for trial in range(trials):
            changed = copy.deepcopy(base)
            changed.vpcs[0].security_groups[0].ingress.append(SgRule("tcp", PORT, PORT, cidr="10.60.200.10/32"))
            changed.generation = trial + 1
            started = time.monotonic()
            dataplane.apply(changed)
            applied = time.monotonic()
            while not connects(client_ns, target_ip, 0.2):
                if time.monotonic() - started > 10:
                    raise RuntimeError("rule never enforced")
            done = time.monotonic()
            applies.append(applied - started)
            enforced.append(done - started)
            text = dataplane.plan(changed).namespace(router).ruleset or ""
            raw_started = time.monotonic()
            netns.load_ruleset(router, text)
            raw.append(time.monotonic() - raw_started)
            dataplane.apply(base)  # back to closed for the next trial
            assert not connects(client_ns, target_ip, 0.3)
        server.close()
        lines = (dataplane.plan(base).namespace(router).ruleset or "").count("\n")
        return {"enis": size, "ruleset_lines": lines, "setup_s": setup, "apply_s": statistics.median(applies),
                "enforced_s": statistics.median(enforced), "raw_nft_s": statistics.median(raw),
                "ratio": statistics.median(applies) / statistics.median(raw)}
    finally:
        dataplane.teardown(prefix)
        for ns in (instances_ns, client_ns):
            netns.remove(ns)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,100,1000")
    parser.add_argument("--trials", type=int, default=7)
    args = parser.parse_args()
    print(f"{'ENIs':>6} {'lines':>6} {'setup s':>8} {'apply s':>8} {'enforced s':>10} {'nft -f s':>9} {'apply/nft':>9}")
    for size in (int(s) for s in args.sizes.split(",")):
        r = bench_size(size, args.trials)
        print(f"{r['enis']:>6} {r['ruleset_lines']:>6} {r['setup_s']:>8.3f} {r['apply_s']:>8.3f} "
              f"{r['enforced_s']:>10.3f} {r['raw_nft_s']:>9.3f} {r['ratio']:>9.2f}", flush=True)
        report(f"SG rule added to enforced, group on {size} ENIs", r["enforced_s"], "s",
               at_most=ENFORCED_S if size == TARGET_ENIS else None)
        report(f"SG change applied, group on {size} ENIs, over nft -f of the same ruleset", r["ratio"], "x",
               at_most=APPLY_RATIO, apply_s=r["apply_s"], raw_nft_s=r["raw_nft_s"],
               ruleset_lines=r["ruleset_lines"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
