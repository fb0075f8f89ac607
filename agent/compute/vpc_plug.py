"""The VifPlugger of instances in VPCs: a NIC's tap goes onto its subnet's bridge in the VPC router namespace.

The VPC dataplane (``agent.network``) names the router namespace ``<prefix><vpc id>`` and a subnet's bridge
``b<digest>``; its plan lists each local instance NIC's tap as a port of that bridge and, when it finds the
tap in the root namespace, moves it there itself. Plugging here, as soon as QEMU holds the tap, saves the
guest from waiting for the next dataplane pass (its DHCP request would otherwise go nowhere), and it
replaces a stale tap of the same name left in the namespace by an earlier boot of the instance (the
dataplane would keep that one and never adopt the new tap). When the namespace does not exist yet the tap
stays up in the root namespace for the dataplane to adopt once it has made it.

Taps keep their ifalias (``cloudlet:<owner>:<instance>``) across namespaces, which is how
:meth:`VpcPlugger.plugged_taps` tells this agent's taps from anyone else's.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from agent.compute import vif
from agent.compute.metrics import NicCounters
from agent.compute.spec import NicSpec
from agent.contract.naming import is_tap_name
from agent.network import naming, netns

log = logging.getLogger("cloudlet.agent.compute")

ENODEV = 19


class VpcPlugger:
    """Plugs instance taps into their VPC subnets (see the module docstring)."""

    def __init__(self, name_prefix: str, alias_prefix: str) -> None:
        self.name_prefix = name_prefix
        self.alias_prefix = alias_prefix
        self._routes: dict[tuple[str, int], tuple[str, str]] = {}
        self._lock = threading.Lock()

    def set_routes(self, routes: dict[tuple[str, int], tuple[str, str]]) -> None:
        """Where each NIC goes: (instance id, device index) -> (VPC id, subnet id), from the desired section."""
        with self._lock:
            self._routes = dict(routes)

    def target(self, instance_id: str, device_index: int) -> tuple[str, str] | None:
        """(namespace, bridge) of a NIC, or None when it is not known."""
        with self._lock:
            route = self._routes.get((instance_id, device_index))
        if route is None:
            return None
        vpc_id, subnet_id = route
        return naming.router_netns(self.name_prefix, vpc_id), naming.subnet_bridge(subnet_id)

    def plug(self, instance_id: str, nic: NicSpec, tap: str) -> None:
        target = self.target(instance_id, nic.device_index)
        if target is None or not netns.exists(target[0]):
            vif.NullPlugger().plug(instance_id, nic, tap)  # up in the root namespace; the dataplane adopts it
            return
        namespace, bridge = target
        with IPRoute(netns=namespace) as inside:
            stale = inside.link_lookup(ifname=tap)
            if stale:
                inside.link("del", index=stale[0])
        with IPRoute() as host:
            index = host.link_lookup(ifname=tap)
            if not index:
                raise RuntimeError(f"tap {tap} of {instance_id} is not in the root namespace")
            host.link("set", index=index[0], net_ns_fd=netns.path(namespace))
        with IPRoute(netns=namespace) as inside:
            index = inside.link_lookup(ifname=tap)
            master = inside.link_lookup(ifname=bridge)
            if master:
                inside.link("set", index=index[0], master=master[0], state="up")
            else:
                inside.link("set", index=index[0], state="up")
        log.info("plugged %s (%s eth%d) into %s/%s", tap, instance_id, nic.device_index, namespace, bridge)

    def unplug(self, tap: str) -> None:
        vif.delete_root_tap(tap, self.alias_prefix)
        for namespace in self._namespaces():
            with IPRoute(netns=namespace) as inside:
                for index in inside.link_lookup(ifname=tap):
                    try:
                        inside.link("del", index=index)
                    except NetlinkError as exc:
                        if exc.code != ENODEV:
                            raise

    def plugged_taps(self) -> set[str]:
        found: set[str] = set()
        for namespace in self._namespaces():
            with IPRoute(netns=namespace) as inside:
                found |= set(_own_taps(inside.get_links(), self.alias_prefix))
        return found

    def tap_counters(self) -> dict[str, NicCounters]:
        found: dict[str, NicCounters] = {}
        for namespace in self._namespaces():
            with IPRoute(netns=namespace) as inside:
                links = inside.get_links()
            mine = set(_own_taps(links, self.alias_prefix))
            found.update(vif.tap_counters(links, mine.__contains__))
        return found

    def _namespaces(self) -> list[str]:
        return [name for name in netns.list_names() if naming.is_managed_netns(self.name_prefix, name)
                and name.startswith(naming.router_netns(self.name_prefix, "vpc-"))]


def _own_taps(links: Iterable[dict], alias_prefix: str) -> Iterable[str]:
    for link in links:
        name = link.get("IFLA_IFNAME")
        if is_tap_name(name) and (link.get("IFLA_IFALIAS") or "").startswith(alias_prefix):
            yield name
