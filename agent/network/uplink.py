"""The uplink's host side: how the Internet namespace reaches the user's LAN in ``nat`` and ``bridge`` modes.

The Internet namespace (``plan._internet_plan``) is the same in every mode: the lab segment ``world`` and one
veth per VPC with an IGW, the VPC router namespaces doing the Elastic IPs' 1:1 NAT. What the mode changes is
one more leg out of it, ``lan``, a veth whose other end lives in the host namespace:

* ``lab`` (the default): no leg. Nothing outside the agent's own ``cl-`` namespaces is touched.
* ``nat``: the host end ``<prefix>uplink`` is a routed point-to-point link (pinned link-local next hops, as
  for the VPC uplinks). The Internet namespace's default route goes to the host; the host routes each public
  address in use (/32) back over the veth, answers ARP for them on the LAN interface (a proxy neighbour
  entry each; ``net.ipv4.ip_forward=1`` is what makes the kernel answer), and masquerades to its own
  address what leaves the LAN interface from the veth with a source outside the pool (the lab segment's
  addresses; an EIP or a NAT gateway's EIP keeps its address, which the LAN reaches by proxy ARP).
* ``bridge``: the host end is a port of the user's bridge. The Internet namespace's end holds the pool's
  first address (/32), answers ARP for the public addresses in use, routes the bridge's own networks on
  link and everything else to the LAN's gateway (``--uplink-gateway`` or the host's default gateway), and
  masquerades non-pool sources to its own address. The host gets the veth and nothing else.

IPv6 stays lab-only in every mode: the LAN leg carries IPv4 (EIPs are IPv4; IPv6 egress goes to the lab).

The plan is pure (:func:`plan_uplink`, from the document, the agent's flags and :class:`HostFacts` read from
the host); the applier is thin: pyroute2 for links, routes and neighbours, one ``nft -f`` for the host's
table. Every host object carries the agent's prefix or a mark (routes: protocol :data:`ROUTE_PROTO`), and
what was added is recorded in ``RUN_DIR/uplink.json`` so that a later lab-mode apply or ``--teardown`` removes
it even after a restart or a change of flags.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import subprocess
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from agent.contract import cidr
from agent.contract.network import HostNetwork
from agent.network import links, naming, netns
from agent.network.plan import MAIN_TABLE, UPLINK_LAN_LINK, Link, Neighbour, Proxy, UplinkPlan
from agent.network.routes import KernelRoute

log = logging.getLogger("cloudlet.agent.network")

MODES = ("lab", "nat", "bridge")
#: Routes the agent adds to the host namespace carry this protocol number, so they are found (and only they
#: are removed) without touching the host's own routes.
ROUTE_PROTO = 199
#: The Internet namespace's end of the LAN leg.
INTERNET_LINK = UPLINK_LAN_LINK
#: The Internet namespace's nft table (its own namespace: the name needs no prefix).
INTERNET_TABLE = "uplink"
STATE_FILE = "uplink.json"
#: IPv6 stays in the lab: the LAN leg carries none (no SLAAC from the LAN's router advertisements either).
NO_IPV6 = (f"net/ipv6/conf/{INTERNET_LINK}/disable_ipv6", "1")
RTNH_F_ONLINK = 4


class UplinkError(ValueError):
    """The host cannot carry the chosen mode as configured (no LAN interface, a missing bridge...)."""


@dataclass(frozen=True)
class HostUplink:
    """The host's own uplink choice, from the agent's flags (the controller's ``Uplink.mode`` is cloud-wide;
    what this host does follows these). ``host_netns`` names a namespace standing for the host (tests);
    None is the real root namespace. ``dns_upstreams``: resolvers VPC DNS forwards to (nat/bridge only)."""

    mode: str = "lab"
    interface: str | None = None
    bridge: str | None = None
    gateway: str | None = None
    host_netns: str | None = None
    dns_upstreams: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise UplinkError(f"uplink mode {self.mode!r} is not one of {', '.join(MODES)}")
        if self.mode == "bridge" and not self.bridge:
            raise UplinkError("uplink mode 'bridge' needs the host's bridge (--uplink-bridge)")
        if self.gateway:
            cidr.ipv4_address(self.gateway)


def resolv_conf_nameservers(text: str) -> tuple[str, ...]:
    """The ``nameserver`` addresses of a resolv.conf that the VPCs can reach: not loopback (a local stub such as
    systemd-resolved's 127.0.0.53 lives in the host's namespace only) and not link-local."""
    found = []
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver":
            try:
                address = cidr.address(words[1].split("%")[0])
            except cidr.CidrError:
                continue
            if not (address.is_loopback or address.is_link_local):
                found.append(str(address))
    return tuple(found)


def from_flags(mode: str, interface: str | None = None, bridge: str | None = None, gateway: str | None = None,
               host_netns: str | None = None, dns_upstreams: list[str] | None = None,
               resolv_conf: str = "/etc/resolv.conf") -> HostUplink:
    """The agent's flags as a HostUplink; without ``--dns-upstream`` nat/bridge use the host's resolvers."""
    if dns_upstreams is None and mode != "lab":
        try:
            dns_upstreams = list(resolv_conf_nameservers(Path(resolv_conf).read_text()))
        except OSError:
            dns_upstreams = []
    return HostUplink(mode, interface or None, bridge or None, gateway or None, host_netns or None,
                      tuple(dns_upstreams or ()))


@dataclass(frozen=True)
class HostFacts:
    """What the applier read from the host namespace: the default route's interface and gateway, and the
    IPv4 networks on the bridge (bridge mode routes them on link from the Internet namespace)."""

    interface: str | None = None
    gateway: str | None = None
    bridge_networks: tuple[str, ...] = ()


# --- pure planning ---------------------------------------------------------------------------------------------------


def host_link_name(prefix: str) -> str:
    """``<prefix>uplink`` when it fits Linux's 15 characters, else ``cl-up`` and a digest of the prefix."""
    name = f"{prefix}uplink"
    return name if len(name) <= naming.IFNAMSIZ else "cl-up" + naming.digest(prefix, 10)


def host_table_name(prefix: str) -> str:
    """The host namespace's nft table (``cl_uplink`` for the default prefix)."""
    return naming.nft_id(prefix) + "uplink"


def public_ips(doc: HostNetwork) -> tuple[str, ...]:
    """The public addresses in use that the LAN must reach: every EIP of a VPC with an IGW, in the pool."""
    return tuple(sorted({eip.public_ip for vpc in doc.vpcs if vpc.internet_gateway_id for eip in vpc.elastic_ips
                         if cidr.in_pool(doc.uplink.public_pool, eip.public_ip)}))


def pool_match(pool: str) -> str:
    """The pool as an nft anonymous set of ranges (its first address included)."""
    parts = [f"{_ip(low)}-{_ip(high)}" if low != high else _ip(low) for low, high in cidr.pool_parts(pool)]
    return "{ " + ", ".join(parts) + " }"


def _ip(value: int) -> str:
    return str(ipaddress.IPv4Address(value))


def _table(family: str, name: str, body: list[str]) -> str:
    """An nft transaction that replaces the whole table atomically (created first so the delete never fails)."""
    return "\n".join([f"table {family} {name}", f"delete table {family} {name}", f"table {family} {name} {{",
                      *body, "}", ""])


def host_ruleset(table: str, host_link: str, interface: str, pool: str) -> str:
    """nat mode, host namespace: masquerade what the veth sends out of the LAN interface from outside the pool.

    Nothing else: an ``accept`` here could not override another table's drop (nft evaluates every base chain),
    so a host firewall that drops forwarded packets must let ``<prefix>uplink`` <-> the LAN interface through
    itself (README, "Choosing an uplink")."""
    return _table("inet", table, [
        "\tchain postrouting {", "\t\ttype nat hook postrouting priority srcnat; policy accept;",
        f'\t\tiifname "{host_link}" oifname "{interface}" ip saddr != {pool_match(pool)} masquerade', "\t}"])


def internet_ruleset(pool: str | None) -> str:
    """The Internet namespace's table: in bridge mode, masquerade non-pool sources (the lab segment) leaving
    to the LAN to the leg's own address; in nat mode empty (the host masquerades)."""
    body = [] if pool is None else [
        "\tchain postrouting {", "\t\ttype nat hook postrouting priority srcnat; policy accept;",
        f'\t\toifname "{INTERNET_LINK}" ip saddr != {pool_match(pool)} masquerade', "\t}"]
    return _table("ip", INTERNET_TABLE, body)


def plan_uplink(doc: HostNetwork, uplink: HostUplink, facts: HostFacts) -> UplinkPlan | None:
    """The LAN leg for ``uplink``'s mode, or None (lab mode, or a cloud whose pool is the lab's: then no
    LAN address is ours to answer for and the host is left alone)."""
    if uplink.mode == "lab" or not doc.uplink.lan_pool:
        return None
    prefix, pool = doc.name_prefix, doc.uplink.public_pool
    host_link = host_link_name(prefix)
    host_mac, internet_mac = naming.mac_for(f"{prefix}:uplink:host"), naming.mac_for(f"{prefix}:uplink:internet")
    addresses = public_ips(doc)
    base = UplinkPlan(uplink.mode, uplink.host_netns, host_link, host_mac, internet_mac, pool,
                      host_table=host_table_name(prefix), public_ips=addresses)
    if uplink.mode == "nat":
        interface = uplink.interface or facts.interface
        if not interface:
            raise UplinkError("uplink mode 'nat' needs the LAN interface: the host has no IPv4 default route "
                              "(give --uplink-interface)")
        return _replace(base, interface=interface,
                        host_routes=tuple(KernelRoute(MAIN_TABLE, f"{ip}/32", device=host_link, via=naming.P2P_NEAR_V4)
                                          for ip in addresses),
                        host_neighbours=(Neighbour(host_link, naming.P2P_NEAR_V4, internet_mac),),
                        host_proxies=tuple(Proxy(interface, ip) for ip in addresses),
                        host_sysctls=(("net/ipv4/ip_forward", "1"), (f"net/ipv4/conf/{host_link}/rp_filter", "2")),
                        host_ruleset=host_ruleset(base.host_table, host_link, interface, pool),
                        internet_routes=(KernelRoute(MAIN_TABLE, "0.0.0.0/0", device=INTERNET_LINK,
                                                     via=naming.P2P_FAR_V4),),
                        internet_neighbours=(Neighbour(INTERNET_LINK, naming.P2P_FAR_V4, host_mac),),
                        internet_sysctls=(NO_IPV6,), internet_ruleset=internet_ruleset(None))
    gateway = uplink.gateway or facts.gateway
    routes = [KernelRoute(MAIN_TABLE, net, device=INTERNET_LINK) for net in facts.bridge_networks
              if not cidr.overlaps(net, doc.uplink.internet_cidr)]
    if gateway:
        routes.append(KernelRoute(MAIN_TABLE, "0.0.0.0/0", device=INTERNET_LINK, via=gateway))
    return _replace(base, master=uplink.bridge,
                    internet_addresses=(f"{cidr.pool_first(pool)}/32",), internet_routes=tuple(routes),
                    internet_proxies=tuple(Proxy(INTERNET_LINK, ip) for ip in addresses),
                    internet_sysctls=(NO_IPV6, (f"net/ipv4/neigh/{INTERNET_LINK}/proxy_delay", "0")),
                    internet_ruleset=internet_ruleset(pool))


def _replace(plan: UplinkPlan, **changes: Any) -> UplinkPlan:
    return UplinkPlan(**{**{f: getattr(plan, f) for f in plan.__dataclass_fields__}, **changes})


def owned_proxy(pool: str, interface: str | None, recorded: Collection[tuple[str, str]] = ()) -> Callable[[Proxy], bool]:
    """Which host proxy entries are the agent's: those it recorded, and any on the LAN interface for an
    address of the pool (a stale one left by an interrupted apply)."""
    first = cidr.pool_first(pool)
    return lambda proxy: ((proxy.device, proxy.ip) in recorded
                          or proxy.device == interface and (proxy.ip == first or cidr.in_pool(pool, proxy.ip)))


# --- the host namespace (edge) ---------------------------------------------------------------------------------------


def discover(uplink: HostUplink) -> HostFacts:
    """Read the host namespace's default route and the bridge's networks (nothing is changed)."""
    if uplink.mode == "lab":
        return HostFacts()
    with _ipr(uplink.host_netns) as ipr:
        names = {msg["index"]: msg.get("ifname") for msg in ipr.get_links()}
        interface = gateway = None
        for msg in ipr.route("dump", family=socket.AF_INET, table=MAIN_TABLE):
            if msg["dst_len"] == 0 and msg.get("table") == MAIN_TABLE and msg.get("oif"):
                interface, gateway = names.get(msg.get("oif")), msg.get("gateway")
                break
        networks: tuple[str, ...] = ()
        if uplink.bridge:
            found = ipr.link_lookup(ifname=uplink.bridge)
            if not found:
                raise UplinkError(f"the bridge {uplink.bridge!r} does not exist in the host namespace")
            networks = tuple(sorted({str(ipaddress.ip_interface(f"{m.get('address')}/{m['prefixlen']}").network)
                                     for m in ipr.get_addr(family=socket.AF_INET, index=found[0])}))
    return HostFacts(interface, gateway, networks)


def ensure_link(plan: UplinkPlan, internet_netns: str, handle: links.Handle, report: links.LinkReport) -> None:
    """The veth between the host and the Internet namespace (rebuilt when only half of it is left), on the
    user's bridge in bridge mode and on no bridge otherwise, up."""
    ipr = handle(plan.host_netns)
    existing = {msg.get("ifname"): msg for msg in ipr.get_links()}
    links.ensure_veth(plan.host_netns, Link(plan.host_link, "veth", mac=plan.host_mac, peer=plan.internet_link,
                                            peer_netns=internet_netns, peer_mac=plan.internet_mac),
                      existing, handle, report)
    # Plugged and up before the Internet namespace's pass, whose gratuitous ARPs must reach the LAN.
    existing = {msg.get("ifname"): msg for msg in ipr.get_links()}
    if plan.master and plan.master not in existing:
        raise UplinkError(f"the bridge {plan.master!r} does not exist in the host namespace")
    master = existing[plan.master]["index"] if plan.master else 0  # 0: none (a bridge -> nat switch frees it)
    index = existing[plan.host_link]["index"]
    if (existing[plan.host_link].get("master") or 0) != master:
        ipr.link("set", index=index, master=master)
    ipr.link("set", index=index, state="up")


def apply_host(run_dir: str, plan: UplinkPlan, handle: links.Handle) -> None:
    """Converge the host namespace to ``plan`` (after ``ensure_link`` and the Internet namespace's pass) and
    record what it holds. Pieces of a previous plan on another host namespace or link name are removed first;
    ``ip_forward`` is read before the agent first sets it, so removal can put it back."""
    previous = load_state(run_dir)
    if previous is not None and (previous.host_netns, previous.host_link) != (plan.host_netns, plan.host_link):
        remove_host(run_dir, previous)
        previous = None
    forward_before = previous.ip_forward_before if previous else None
    if forward_before is None and plan.host_sysctls:
        forward_before = read_sysctl(plan.host_netns, "net/ipv4/ip_forward")
    converge_host(plan, handle, previous.proxies if previous else ())
    if forward_before is not None and not plan.host_sysctls:  # nat -> bridge: forwarding is no longer ours
        write_sysctls(plan.host_netns, {"net/ipv4/ip_forward": forward_before})
        forward_before = None
    if plan.host_ruleset is not None:
        load_ruleset(plan.host_netns, plan.host_ruleset)
    elif previous is not None and previous.host_table:
        load_ruleset(plan.host_netns, _drop_table(previous.host_table))
    state = HostState(plan.host_netns, plan.host_link, plan.host_table if plan.host_ruleset else None,
                      sorted((p.device, p.ip) for p in plan.host_proxies), forward_before)
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    (Path(run_dir) / STATE_FILE).write_text(json.dumps(asdict(state)))


def converge_host(plan: UplinkPlan, handle: links.Handle, recorded: Collection[tuple[str, str]] = ()) -> None:
    """The host namespace's pieces after the veth: sysctls, pinned neighbour, /32 routes, proxies (recorded
    entries of an earlier plan that this one drops are removed)."""
    ipr = handle(plan.host_netns)
    index = ipr.link_lookup(ifname=plan.host_link)[0]
    write_sysctls(plan.host_netns, dict(plan.host_sysctls))
    for neighbour in plan.host_neighbours:
        ipr.neigh("replace", dst=neighbour.ip, lladdr=neighbour.mac, ifindex=index, state=links.NUD_PERMANENT)
    converge_routes(ipr, plan.host_routes)
    if plan.interface or recorded:
        links.converge_proxies(ipr, plan.host_netns, list(plan.host_proxies),
                               owned_proxy(plan.pool, plan.interface, set(recorded)))


def converge_routes(ipr: IPRoute, routes: tuple[KernelRoute, ...]) -> None:
    """The host's main-table routes of protocol ROUTE_PROTO become exactly ``routes`` (others are the host's)."""
    indexes = {msg.get("ifname"): msg["index"] for msg in ipr.get_links()}
    wanted = {r.destination: r for r in routes}
    for msg in ipr.route("dump", family=socket.AF_INET, table=MAIN_TABLE):
        if msg["proto"] != ROUTE_PROTO or msg.get("table") != MAIN_TABLE:
            continue
        dst = f"{msg.get('dst')}/{msg['dst_len']}"
        route = wanted.get(dst)
        if route is None or msg.get("oif") != indexes.get(route.device or "") or msg.get("gateway") != route.via:
            ipr.route("del", dst=dst, table=MAIN_TABLE, proto=ROUTE_PROTO)
    for route in routes:
        try:
            ipr.route("replace", dst=route.destination, table=MAIN_TABLE, proto=ROUTE_PROTO,
                      oif=indexes[route.device or ""], gateway=route.via, flags=RTNH_F_ONLINK)
        except NetlinkError as exc:
            log.warning("host route %s: %s", route.destination, exc)


def write_sysctls(ns: str | None, values: dict[str, str]) -> None:
    """``/proc/sys`` keys of the host namespace (None: the agent's own), skipping equal ones."""
    if ns is not None:
        netns.write_sysctls(ns, values)
        return
    for key, value in values.items():
        file = Path("/proc/sys") / key
        if file.read_text().strip() != value:
            file.write_text(value)


def read_sysctl(ns: str | None, key: str) -> str:
    if ns is not None:
        return netns.run_inside(ns, lambda: (Path("/proc/sys") / key).read_text().strip())
    return (Path("/proc/sys") / key).read_text().strip()


def load_ruleset(ns: str | None, ruleset: str) -> None:
    """One ``nft -f`` in the host namespace (None: the agent's own)."""
    if ns is not None:
        netns.load_ruleset(ns, ruleset)
        return
    result = subprocess.run(["nft", "-f", "-"], input=ruleset, capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise netns.NetnsError(f"nft -f failed: {result.stderr.strip()}")


def _ipr(ns: str | None) -> IPRoute:
    return IPRoute(netns=ns) if ns else IPRoute()


# --- what was added, for teardown ------------------------------------------------------------------------------------


@dataclass
class HostState:
    """What the agent added to the host namespace (``RUN_DIR/uplink.json``): the veth, the nft table, the
    proxy entries, and ``ip_forward`` as it was before the agent set it (restored on removal)."""

    host_netns: str | None
    host_link: str
    host_table: str | None = None
    proxies: list[tuple[str, str]] = field(default_factory=list)
    ip_forward_before: str | None = None


def load_state(run_dir: str) -> HostState | None:
    try:
        data = json.loads((Path(run_dir) / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    data["proxies"] = [(device, ip) for device, ip in data.get("proxies", [])]
    return HostState(**data)


def _drop_table(table: str) -> str:
    return f"table inet {table}\ndelete table inet {table}\n"


def remove_host(run_dir: str, state: HostState | None) -> list[str]:
    """Undo everything ``state`` lists in the host namespace (routes and the pinned neighbour go with the
    veth); returns what was removed. Idempotent; a missing namespace or object is skipped."""
    removed: list[str] = []
    if state is None:
        return removed
    if state.host_netns is None or netns.exists(state.host_netns):
        with _ipr(state.host_netns) as ipr:
            indexes = {msg.get("ifname"): msg["index"] for msg in ipr.get_links()}
            if state.host_link in indexes:
                ipr.link("del", index=indexes[state.host_link])
                removed.append(state.host_link)
            current = set(links.proxies(state.host_netns))
            for device, ip in state.proxies:
                if (device, ip) in {(p.device, p.ip) for p in current} and device in indexes:
                    ipr.neigh("del", dst=ip, ifindex=indexes[device], flags=links.NTF_PROXY)
                    removed.append(f"proxy {ip} dev {device}")
        if state.host_table:
            load_ruleset(state.host_netns, _drop_table(state.host_table))
            removed.append(f"table inet {state.host_table}")
        if state.ip_forward_before is not None and state.ip_forward_before != "1":
            write_sysctls(state.host_netns, {"net/ipv4/ip_forward": state.ip_forward_before})
            removed.append(f"net.ipv4.ip_forward={state.ip_forward_before}")
    (Path(run_dir) / STATE_FILE).unlink(missing_ok=True)
    return removed
