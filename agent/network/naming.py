"""Names, MACs and table numbers of every kernel object, derived deterministically from document IDs.

Determinism is what makes convergence cheap and restarts lossless: the same document always yields the same
interface names, bridge MACs and routing table numbers, so an agent that restarts finds its own objects and
keeps them. Interface names stay within Linux's 15 characters; namespaces carry the host's name prefix so
leftovers are found by name alone.
"""

from __future__ import annotations

import re

from agent.contract.naming import digest

IFNAMSIZ = 15
#: Inside a VPC router namespace: the veth towards the uplink (IGW and egress-only IGW traffic).
UPLINK_INSIDE = "up"
#: Inside the Internet namespace: the bridge of the "rest of the world" segment.
INTERNET_BRIDGE = "world"
#: Inside a NAT gateway namespace: its one interface, in the NAT gateway's subnet.
NAT_INSIDE = "eth0"
#: Link-local next hops of point-to-point veths (uplink and peering); neighbours are pinned, never resolved.
P2P_NEAR_V4, P2P_FAR_V4 = "169.254.0.1", "169.254.0.2"
P2P_NEAR_V6, P2P_FAR_V6 = "fe80::1", "fe80::2"
METADATA_V4 = "169.254.169.254"
#: Routing table numbers of subnets live above this base (below it: the kernel's own tables).
TABLE_BASE = 0x10000
TABLE_SPAN = 0x100000

_KINDS = ("vpc-", "nat-")
_INTERNET = "internet"


def router_netns(prefix: str, vpc_id: str) -> str:
    return f"{prefix}{vpc_id}"


def nat_netns(prefix: str, nat_id: str) -> str:
    return f"{prefix}{nat_id}"


def service_netns(prefix: str, eni_id: str) -> str:
    """The namespace of a service the agent runs behind an ENI (an EFS mount target's NFS server): the
    network plan puts the ENI's veth end there, the service's own reconciler makes and fills it."""
    return f"{prefix}svc-{eni_id}"


def probe_ports(probe_id: str) -> tuple[str, str]:
    """The transient veth of a Reachability Analyzer probe in a VPC router namespace: its bridge-side end and
    the end the probe's frame is written to (``agent.network.probe``). A leftover is removed like any foreign
    port by the next netlink pass, since no plan names it."""
    port = "q" + digest(probe_id)
    return port, port + "i"


def internet_netns(prefix: str) -> str:
    return f"{prefix}{_INTERNET}"


def is_managed_netns(prefix: str, name: str) -> bool:
    """True for namespaces this prefix's agent made (others with a longer prefix are left alone)."""
    if not name.startswith(prefix):
        return False
    rest = name[len(prefix):]
    return rest == _INTERNET or (rest.startswith(_KINDS) and re.fullmatch(r"[a-z]+-[0-9a-zA-Z]+", rest) is not None)


def subnet_bridge(subnet_id: str) -> str:
    return "b" + digest(subnet_id)


def subnet_vxlan(subnet_id: str) -> str:
    return "x" + digest(subnet_id)


def nat_port(nat_id: str) -> str:
    """The router-side end of a NAT gateway's veth (a port of its subnet's bridge)."""
    return "n" + digest(nat_id)


def peering_link(pcx_id: str) -> str:
    """Both ends of a peering veth carry this name, each in its own VPC's router namespace."""
    return "p" + digest(pcx_id)


def uplink_outside(vpc_id: str) -> str:
    """The Internet-namespace end of a VPC's uplink veth."""
    return "v" + digest(vpc_id)


def mac_for(key: str) -> str:
    """A stable locally administered unicast MAC for an object the agent owns (bridges, veth ends)."""
    raw = digest("mac:" + key, 10)
    return "02:" + ":".join(raw[i:i + 2] for i in range(0, 10, 2))


def nft_id(object_id: str) -> str:
    """An nft-safe identifier (chains, sets) for a document ID."""
    return re.sub(r"[^0-9A-Za-z_]", "_", object_id)


def check_ifname(name: str) -> str:
    if not 0 < len(name) <= IFNAMSIZ or "/" in name or name.strip() != name:
        raise ValueError(f"interface name {name!r} is not a valid Linux name (1-{IFNAMSIZ} characters)")
    return name


def subnet_tables(subnet_ids: list[str]) -> dict[str, int]:
    """A routing table number per subnet: hashed so it is stable, de-collided in a deterministic order."""
    tables: dict[str, int] = {}
    taken: set[int] = set()
    for subnet_id in sorted(subnet_ids):
        number = TABLE_BASE + int(digest(subnet_id, 8), 16) % TABLE_SPAN
        while number in taken:
            number += 1
        taken.add(number)
        tables[subnet_id] = number
    return tables
