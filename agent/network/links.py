"""Converge one namespace's interfaces, addresses, neighbours, rules, routes and FDB to a plan (netlink edge).

Every step reads what exists, changes only what differs and removes what the plan does not name, so a
repeated apply is a handful of dumps and no writes, and an interrupted one is finished by the next.
"""

from __future__ import annotations

import json
import logging
import socket
import struct
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from agent.contract import cidr
from agent.network import netns
from agent.network.nft import TABLE
from agent.network.plan import FdbEntry, Link, NamespacePlan, Neighbour, Proxy, Rule
from agent.network.routes import KernelRoute

log = logging.getLogger("cloudlet.agent.network")

IFF_UP = 1
NUD_PERMANENT = 0x80
NTF_PROXY = 0x08
RTN_TYPES = {"unicast": 1, "local": 2, "blackhole": 6, "unreachable": 7}
FR_ACT_TO_TBL, FR_ACT_UNREACHABLE = 1, 7
RT_SCOPE_HOST = 254
RTNH_F_ONLINK = 4
MANAGED_RULE_PRIORITIES = (1000, 2000)

Handle = Callable[[str | None], IPRoute]


@dataclass
class LinkReport:
    """What a convergence pass did, for logs and tests (an unchanged namespace reports nothing)."""

    created: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    #: The ports behind ``pending``, with their namespace (None: the host's): what the next apply looks for
    #: (:func:`plugged`).
    waiting: list[tuple[str | None, Link]] = field(default_factory=list)


def _links(ipr: IPRoute) -> dict[str, Any]:
    return {msg.get("ifname"): msg for msg in ipr.get_links()}


def _index(ipr: IPRoute, name: str) -> int | None:
    found = ipr.link_lookup(ifname=name)
    return found[0] if found else None


def create_links(plan: NamespacePlan, handle: Handle, underlay_netns: str | None, underlay: tuple[str, int] | None,
                 report: LinkReport) -> None:
    """Phase one: make missing interfaces (veths with both ends in place), drop ones the plan does not name."""
    ipr = handle(plan.name)
    existing = _links(ipr)
    wanted = {link.name for link in plan.links}
    open_bridges = {existing[name]["index"] for name in plan.open_bridges if name in existing}
    for name, msg in existing.items():
        if name not in wanted and name != "lo" and msg.get("master") not in open_bridges:
            ipr.link("del", index=msg["index"])
            report.removed.append(f"{plan.name}/{name}")
    existing = _links(ipr)
    for link in plan.links:
        if link.kind == "veth":
            ensure_veth(plan.name, link, existing, handle, report)
        elif link.kind == "bridge" and link.name not in existing:
            # No multicast snooping: a port that joined before its MLD report was seen would miss IPv6 ND.
            ipr.link("add", ifname=link.name, kind="bridge", address=link.mac, br_stp_state=0, br_forward_delay=0,
                     br_mcast_snooping=0)
            report.created.append(f"{plan.name}/{link.name}")
        elif link.kind == "tap" and link.name not in existing:
            _adopt_tap(plan.name, link, handle, report)
        elif link.kind == "vxlan" and link.name not in existing:
            if underlay is None:
                raise ValueError(f"{link.name}: a VXLAN subnet needs the document's underlay")
            handle(underlay_netns).link("add", ifname=link.name, kind="vxlan", vxlan_id=link.vni,
                                        vxlan_local=underlay[0], vxlan_port=underlay[1], vxlan_learning=0,
                                        address=link.mac, net_ns_fd=netns.path(plan.name))
            report.created.append(f"{plan.name}/{link.name}")


def ensure_veth(ns: str | None, link: Link, existing: dict[str, Any], handle: Handle, report: LinkReport) -> None:
    """A veth whose far end must sit, under its own name, in ``peer_netns``; a half-pair is rebuilt."""
    assert link.peer and link.peer_netns
    if not netns.exists(link.peer_netns):
        report.pending.append(f"{ns}/{link.name}: namespace {link.peer_netns} is missing")
        report.waiting.append((ns, link))
        if link.name in existing:
            handle(ns).link("del", index=existing[link.name]["index"])
        return
    far = handle(link.peer_netns)
    far_index = _index(far, link.peer)
    if link.name in existing and far_index is not None:
        near = existing[link.name]
        if near.get("link") == far_index:
            return
    if link.name in existing:
        handle(ns).link("del", index=existing[link.name]["index"])
    if far_index is not None and _index(far, link.peer) == far_index:
        far.link("del", index=far_index)
    handle(ns).link("add", ifname=link.name, kind="veth", address=link.mac,
                    peer={"ifname": link.peer, "net_ns_fd": netns.path(link.peer_netns), "address": link.peer_mac})
    report.created.append(f"{ns}/{link.name}")


def guarded(ns: str, port: str) -> bool:
    """Whether the ruleset loaded in router namespace ``ns`` already guards ``port`` (``nft.bridge_ruleset``'s
    ``guarded`` set): that ruleset is one transaction with the ENIs' security groups, so once it names the
    port, the port's anti-spoofing and the ENI's groups and ACLs hold."""
    try:
        netns.command(ns, ["nft", "get", "element", "bridge", TABLE, "guarded", f'{{ "{port}" }}'])
    except (netns.NetnsError, subprocess.TimeoutExpired):
        return False
    return True


def plug_veth(ns: str, link: Link, far: IPRoute) -> bool:
    """Plug one veth port of router namespace ``ns`` now (made, on its bridge, up), as the next dataplane pass
    would: a service whose namespace (``far``, the caller's handle on ``link.peer_netns``) appears after the
    pass that planned its port need not wait for the following one. Only a port the loaded ruleset already
    guards (:func:`guarded`) is plugged, so no frame ever crosses the bridge unchecked; False (nothing done)
    otherwise, or while the bridge is missing."""
    assert link.kind == "veth" and link.master and link.peer_netns
    if not netns.exists(ns) or not guarded(ns, link.name):
        return False
    with IPRoute(netns=ns) as near:
        existing = _links(near)
        if link.master not in existing:
            return False
        ensure_veth(ns, link, existing, {ns: near, link.peer_netns: far}.__getitem__, LinkReport())
        _set_attributes(near, link, _links(near))
    return True


def plugged(ns: str | None, link: Link) -> bool:
    """Whether a port a pass left pending is in place now: a tap moved into ``ns``, or a veth whose far end is in
    its namespace (plugged by its service, :func:`plug_veth`), so the pass need not be run again for it."""
    if (ns is not None and not netns.exists(ns)) or (
            link.kind == "veth" and not (link.peer_netns and netns.exists(link.peer_netns))):
        return False  # (checked first: pyroute2 would create a missing namespace)
    with IPRoute(netns=ns) if ns else IPRoute() as ipr:
        near = _links(ipr).get(link.name)
    if near is None or link.kind != "veth":
        return near is not None
    with IPRoute(netns=link.peer_netns) as far:
        return _index(far, link.peer or "") == near.get("link")


def _adopt_tap(ns: str, link: Link, handle: Handle, report: LinkReport) -> None:
    """A VM's tap is made by compute in the host namespace; move it into the VPC namespace when it appears."""
    host = handle(None)
    index = _index(host, link.name)
    if index is None:
        report.pending.append(f"{ns}/{link.name}: tap not created yet")
        report.waiting.append((ns, link))
        return
    host.link("set", index=index, net_ns_fd=netns.path(ns))
    report.created.append(f"{ns}/{link.name}")


def configure_links(plan: NamespacePlan, handle: Handle) -> None:
    """Phase two: attributes (MAC, MTU, master, up) and addresses."""
    ipr = handle(plan.name)
    existing = _links(ipr)
    bridges = [link for link in plan.links if link.kind in ("bridge", "loopback")]
    others = [link for link in plan.links if link.kind not in ("bridge", "loopback")]
    for link in bridges + others:
        if link.name in existing:
            _set_attributes(ipr, link, existing)
    _converge_addresses(ipr, plan.links)


def configure_forwarding(plan: NamespacePlan, handle: Handle) -> None:
    """Phase three, once every namespace's links are up: neighbours, FDB, rules, routes."""
    ipr = handle(plan.name)
    _converge_neighbours(ipr, plan.neighbours)
    _converge_fdb(ipr, plan.fdb)
    if plan.proxies or plan.kind == "internet":  # only the Internet namespace ever holds proxy entries
        converge_proxies(ipr, plan.name, plan.proxies, lambda proxy: True)
    _converge_rules(ipr, plan.rules)
    _converge_routes(ipr, plan.routes, {link.name for link in plan.links})


def proxies(ns: str | None) -> list[Proxy]:
    """The IPv4 proxy neighbour entries of a namespace (None: the agent's own). Read with ``ip -j``: pyroute2
    0.9.7 cannot ask the kernel for the proxy table (its dump request never carries NTF_PROXY)."""
    argv = ["ip", *(["-n", ns] if ns else []), "-4", "-j", "neigh", "show", "proxy"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return [Proxy(entry["dev"], entry["dst"]) for entry in json.loads(out or "[]") if "dev" in entry]


def converge_proxies(ipr: IPRoute, ns: str | None, wanted: list[Proxy], owned: Callable[[Proxy], bool]) -> None:
    """Add the wanted proxy entries and remove the ``owned`` ones the plan no longer names (others are the
    host's own and stay)."""
    current = set(proxies(ns))
    found = {msg.get("ifname"): msg for msg in ipr.get_links()}
    indexes = {name: msg["index"] for name, msg in found.items()}
    added: dict[str, list[str]] = {}
    for proxy in sorted(set(wanted) - current, key=lambda p: (p.device, p.ip)):
        if proxy.device in indexes:
            ipr.neigh("replace", dst=proxy.ip, ifindex=indexes[proxy.device], flags=NTF_PROXY)
            added.setdefault(proxy.device, []).append(proxy.ip)
    for device, ips in added.items():
        announce(ns, device, found[device].get("address"), ips)
    for proxy in current - set(wanted):
        if owned(proxy) and proxy.device in indexes:
            ipr.neigh("del", dst=proxy.ip, ifindex=indexes[proxy.device], flags=NTF_PROXY)


def announce(ns: str | None, device: str, mac: str, ips: list[str]) -> None:
    """One gratuitous ARP per address from ``device``: the LAN's neighbour caches (its router's above all)
    learn at once that the address now lives behind this MAC, instead of after their entries go stale (a
    mode switch or a moved EIP would otherwise black-hole return traffic for up to a minute)."""
    hw = bytes.fromhex(mac.replace(":", ""))

    def send() -> None:
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as sock:
            sock.bind((device, 0))
            for ip in ips:
                address = socket.inet_aton(ip)
                arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + hw + address + b"\0" * 6 + address
                sock.send(b"\xff" * 6 + hw + b"\x08\x06" + arp)

    if ns is None:
        send()
    else:
        netns.run_inside(ns, send)


def _set_attributes(ipr: IPRoute, link: Link, existing: dict[str, Any]) -> None:
    msg = existing[link.name]
    index = msg["index"]
    changes: dict[str, Any] = {}
    if link.mac and (msg.get("address") or "").lower() != link.mac.lower():
        changes["address"] = link.mac
    if link.mtu and msg.get("mtu") != link.mtu:
        changes["mtu"] = link.mtu
    if link.master:
        master = existing.get(link.master)
        if master is not None and msg.get("master") != master["index"]:
            changes["master"] = master["index"]
    if changes:
        ipr.link("set", index=index, **changes)
    if not msg["flags"] & IFF_UP:
        ipr.link("set", index=index, state="up")


def _converge_addresses(ipr: IPRoute, links: list[Link]) -> None:
    indexes = {msg.get("ifname"): msg["index"] for msg in ipr.get_links()}
    have: dict[int, set[str]] = {}
    for msg in ipr.get_addr():
        if msg["family"] == socket.AF_INET6 and msg["scope"] == 253:
            continue  # kernel-made IPv6 link-local addresses are left alone
        have.setdefault(msg["index"], set()).add(f"{msg.get('address')}/{msg['prefixlen']}")
    for link in links:
        index = indexes.get(link.name)
        if index is None:
            continue
        wanted = {_canonical(a) for a in link.addresses}
        current = {_canonical(a) for a in have.get(index, set())}
        if link.kind == "loopback":
            current -= {"127.0.0.1/8", "::1/128"}
        for address in sorted(current - wanted):
            ip, prefix = address.split("/")
            ipr.addr("del", index=index, address=ip, prefixlen=int(prefix))
        for address in sorted(wanted - current):
            ip, prefix = address.split("/")
            ipr.addr("add", index=index, address=ip, prefixlen=int(prefix), **({"nodad": True} if ":" in ip else {}))


def _canonical(address: str) -> str:
    ip, prefix = address.split("/")
    return f"{cidr.address(ip)}/{prefix}"


def _converge_neighbours(ipr: IPRoute, neighbours: list[Neighbour]) -> None:
    """Pin the plan's neighbours and unpin the others: every permanent entry in a managed namespace is ours
    (the kernel only learns reachable/stale ones), and a stale pin (a remote port gone or moved here) would
    send its address to the wrong MAC."""
    wanted: dict[tuple[int, str], str] = {}
    for neighbour in neighbours:
        index = _index(ipr, neighbour.device)
        if index is not None:
            wanted[(index, str(cidr.address(neighbour.ip)))] = neighbour.mac.lower()
    for family in (socket.AF_INET, socket.AF_INET6):
        for msg in ipr.get_neighbours(family=family):
            if not msg.get("dst") or msg["flags"] & NTF_PROXY:
                continue
            key = (msg["ifindex"], str(cidr.address(msg.get("dst"))))
            if msg["state"] & NUD_PERMANENT and key not in wanted:
                ipr.neigh("del", dst=key[1], ifindex=key[0])
    for (index, ip), mac in wanted.items():
        ipr.neigh("replace", dst=ip, lladdr=mac, ifindex=index, state=NUD_PERMANENT)


def _converge_fdb(ipr: IPRoute, entries: list[FdbEntry]) -> None:
    by_device: dict[str, set[tuple[str, str]]] = {}
    for entry in entries:
        by_device.setdefault(entry.device, set()).add((entry.mac, entry.vtep))
    for device, wanted in by_device.items():
        index = _index(ipr, device)
        if index is None:
            continue
        current = set()
        for msg in ipr.get_neighbours(family=socket.AF_BRIDGE, ifindex=index):
            if msg.get("dst"):
                current.add(((msg.get("lladdr") or "").lower(), msg.get("dst")))
        for mac, vtep in current - wanted:
            ipr.fdb("del", ifindex=index, lladdr=mac, dst=vtep)
        for mac, vtep in wanted - current:
            ipr.fdb("append", ifindex=index, lladdr=mac, dst=vtep)


def _converge_rules(ipr: IPRoute, rules: list[Rule]) -> None:
    for family, af in ((4, socket.AF_INET), (6, socket.AF_INET6)):
        wanted = {rule for rule in rules if rule.family == family}
        current: dict[Rule, dict[str, Any]] = {}
        for msg in ipr.get_rules(family=af):
            priority = msg.get("priority")
            if priority not in MANAGED_RULE_PRIORITIES:
                continue
            table = None if msg["action"] == FR_ACT_UNREACHABLE else msg.get("table")
            current[Rule(family, priority, msg.get("iifname") or "", table)] = msg
        for rule in set(current) - wanted:
            _rule_call(ipr, "del", rule, af)
        for rule in wanted - set(current):
            _rule_call(ipr, "add", rule, af)


def _rule_call(ipr: IPRoute, command: str, rule: Rule, af: int) -> None:
    if rule.table is None:
        ipr.rule(command, family=af, priority=rule.priority, iifname=rule.iif, action="unreachable")
    else:
        ipr.rule(command, family=af, priority=rule.priority, iifname=rule.iif, table=rule.table)


def _converge_routes(ipr: IPRoute, routes: list[KernelRoute], devices: set[str]) -> None:
    """Routes in the plan's tables are replaced when they differ and removed when the plan drops them."""
    index_of = {msg.get("ifname"): msg["index"] for msg in ipr.get_links()}
    wanted = {(r.table, r.family, cidr.network(r.destination).compressed): r for r in routes}
    tables = {r.table for r in routes}
    current: dict[tuple[int, int, str], tuple[Any, ...]] = {}
    for msg in ipr.route("dump", family=socket.AF_UNSPEC):
        table = msg.get("table")
        managed = table in tables or table >= 0x10000 or (table == 254 and msg["proto"] == 4)
        if not managed or (msg["type"] == 2 and msg["proto"] != 4):  # the kernel's local routes are its own
            continue
        family = 4 if msg["family"] == socket.AF_INET else 6
        dst = msg.get("dst") or ("0.0.0.0" if family == 4 else "::")
        key = (table, family, cidr.network(f"{dst}/{msg['dst_len']}").compressed)
        if table == 254 and key not in wanted and msg["proto"] != 4:
            continue
        current[key] = (msg["type"], msg.get("gateway"), msg.get("oif"))
    for key, route in wanted.items():
        oif = index_of.get(route.device) if route.device else None
        if route.device and oif is None:
            continue
        state = (RTN_TYPES[route.kind], route.via, oif)
        if current.get(key) == state:
            continue
        kwargs: dict[str, Any] = {"dst": route.destination, "table": route.table, "type": route.kind, "proto": 4}
        if route.kind == "local":
            kwargs["scope"] = RT_SCOPE_HOST  # the kernel refuses a local route of any wider scope
        if oif is not None:
            kwargs["oif"] = oif
        if route.via:
            kwargs["gateway"] = route.via
            if route.family == 4:
                kwargs["flags"] = RTNH_F_ONLINK
        try:
            ipr.route("replace", **kwargs)
        except NetlinkError as exc:
            log.warning("route %s in table %d: %s", route.destination, route.table, exc)
    for key in set(current) - set(wanted):
        table, family, dst = key
        kind = _type_name(current[key][0])
        ipr.route("del", dst=dst, table=table, family=socket.AF_INET if family == 4 else socket.AF_INET6,
                  type=kind, **({"scope": RT_SCOPE_HOST} if kind == "local" else {}))


def _type_name(number: int) -> str:
    return {value: name for name, value in RTN_TYPES.items()}.get(number, "unicast")
