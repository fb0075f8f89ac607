"""The ``namespaces`` section: the inside of namespace instances (``cloudlet netns attach``).

The dataplane puts a veth into the namespace, carrying the interface's MAC; what a VM would learn by
DHCP is configured here for ``static`` attachments: the interface's addresses, the link up, and default
routes through the subnet's router. ``dhcp`` attachments are left to a DHCP client in the namespace.
Only the attached interface and the namespace's default routes are touched: the namespace is the
user's (a container's), everything else in it is theirs.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from dataclasses import dataclass
from typing import Any

from pyroute2 import IPRoute

from agent.network import netns

log = logging.getLogger("cloudlet.agent.namespaces")

IFF_UP = 1
IPV6_LINK_LOCAL_SCOPE = 253


@dataclass(frozen=True)
class NamespaceAddressing:
    """What one attachment wants inside its namespace."""

    eni_id: str
    netns: str
    ifname: str
    addresses: tuple[str, ...]
    gateway: str | None
    gateway6: str | None


def wanted(section: list[dict[str, Any]] | None) -> list[NamespaceAddressing]:
    """The static attachments of the section (pure)."""
    found = []
    for item in section or []:
        if item.get("addressing", "static") != "static" or not item.get("netns"):
            continue
        ipv6 = tuple(item.get("ipv6") or ())
        found.append(NamespaceAddressing(
            eni_id=item["eni_id"], netns=item["netns"], ifname=item.get("ifname") or "eth0",
            addresses=tuple(item.get("ipv4") or ()) + ipv6, gateway=item.get("gateway"),
            gateway6=item.get("gateway6") if ipv6 else None))
    return found


def address_changes(current: set[str], want: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(to remove, to add), comparing canonical ``address/prefix`` forms (pure)."""
    have = {_canonical(a) for a in current}
    need = {_canonical(a) for a in want}
    return sorted(have - need), sorted(need - have)


def _canonical(address: str) -> str:
    return ipaddress.ip_interface(address).with_prefixlen


class NamespaceReconciler:
    """Configures static namespace instances; ``wants_retry`` while a namespace or its veth is missing."""

    def __init__(self) -> None:
        self.waiting: list[str] = []

    @property
    def wants_retry(self) -> bool:
        return bool(self.waiting)

    def reconcile(self, desired: list[dict[str, Any]] | None) -> None:
        waiting = []
        for item in wanted(desired):
            if not netns.exists(item.netns):
                waiting.append(f"{item.eni_id}: namespace {item.netns} does not exist")
                continue
            with IPRoute(netns=item.netns) as ipr:
                if not configure(ipr, item):
                    waiting.append(f"{item.eni_id}: {item.ifname} not in {item.netns} yet")
        if waiting and waiting != self.waiting:
            log.info("namespace instances waiting: %s", "; ".join(waiting))
        self.waiting = waiting


def configure(ipr: IPRoute, item: NamespaceAddressing) -> bool:
    """Converge one namespace's attached interface; False when the interface is not there yet."""
    found = ipr.link_lookup(ifname=item.ifname)
    if not found:
        return False
    index = found[0]
    for loopback in ipr.link_lookup(ifname="lo"):
        ipr.link("set", index=loopback, state="up")
    current = {f"{msg.get('address')}/{msg['prefixlen']}" for msg in ipr.get_addr(index=index)
               if not (msg["family"] == socket.AF_INET6 and msg["scope"] == IPV6_LINK_LOCAL_SCOPE)}
    remove, add = address_changes(current, item.addresses)
    for address in remove:
        ip, prefix = address.split("/")
        ipr.addr("del", index=index, address=ip, prefixlen=int(prefix))
    for address in add:
        ip, prefix = address.split("/")
        ipr.addr("add", index=index, address=ip, prefixlen=int(prefix), **({"nodad": True} if ":" in ip else {}))
    ipr.link("set", index=index, state="up")
    for family, default, gateway in ((socket.AF_INET, "0.0.0.0/0", item.gateway),
                                     (socket.AF_INET6, "::/0", item.gateway6)):
        if gateway and _default_gateway(ipr, family) != (gateway, index):
            ipr.route("replace", dst=default, family=family, gateway=gateway, oif=index)
    return True


def _default_gateway(ipr: IPRoute, family: int) -> tuple[str | None, int | None] | None:
    for route in ipr.get_routes(family=family, table=254):
        if route["dst_len"] == 0 and route.get("gateway"):
            return route.get("gateway"), route.get("oif")
    return None
