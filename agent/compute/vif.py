"""Guest network interfaces on the host: taps in the root namespace and the plugger that wires them.

Lifecycle of a tap (pattern A of the host notes; names from :mod:`agent.contract.naming`):
1. the driver creates it in the root namespace (libvirt opens a ``managed='no'`` tap by name there),
2. the domain starts and QEMU holds the tap open,
3. the :class:`VifPlugger` moves it into the VPC's namespace and onto its subnet bridge (~0.03 s, long
   before the guest's DHCP request),
4. after the domain stops, the plugger deletes it (it is persistent and outlives QEMU).

The VPC dataplane provides the real plugger (ENI -> namespace, bridge, anti-spoofing guard); the
:class:`NamespaceBridgePlugger` here wires every tap onto one bridge in one namespace, which is what
tests and single-network setups need.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Protocol

from pyroute2 import IPRoute, NetNS
from pyroute2.netlink.exceptions import NetlinkError

from agent.compute.metrics import NicCounters
from agent.compute.spec import NicSpec
from agent.contract.naming import is_tap_name

log = logging.getLogger("cloudlet.agent.compute")

ENODEV = 19


class VifPlugger(Protocol):
    """Connects instance taps to their networks (implemented by the VPC dataplane)."""

    def plug(self, instance_id: str, nic: NicSpec, tap: str) -> None:
        """Move ``tap`` (in the root namespace, held open by the running domain) to the network of
        ``nic`` and bring it up. Must be idempotent for a tap that is already plugged."""

    def unplug(self, tap: str) -> None:
        """Delete ``tap`` wherever it was plugged; a tap that does not exist is not an error."""

    def plugged_taps(self) -> set[str]:
        """Names of the Cloudlet taps this plugger currently has in its networks (for orphan cleanup)."""

    def tap_counters(self) -> dict[str, NicCounters]:
        """Each plugged tap's counters, from the guest's point of view (for CloudWatch's NetworkIn/Out)."""


class NullPlugger:
    """Leaves taps unconnected in the root namespace (hosts without a VPC dataplane, some tests)."""

    def plug(self, instance_id: str, nic: NicSpec, tap: str) -> None:
        with IPRoute() as ipr:
            index = ipr.link_lookup(ifname=tap)
            if index:
                ipr.link("set", index=index[0], state="up")

    def unplug(self, tap: str) -> None:
        delete_root_tap(tap)

    def plugged_taps(self) -> set[str]:
        return set()

    def tap_counters(self) -> dict[str, NicCounters]:
        return {}  # taps in the root namespace: libvirt's own interface statistics see them


class NamespaceBridgePlugger:
    """Plugs every tap into ``bridge`` inside the network namespace ``netns`` (one flat network)."""

    def __init__(self, netns: str, bridge: str) -> None:
        self.netns = netns
        self.bridge = bridge

    def plug(self, instance_id: str, nic: NicSpec, tap: str) -> None:
        with IPRoute() as ipr:
            index = ipr.link_lookup(ifname=tap)
            if index:
                ipr.link("set", index=index[0], net_ns_fd=self.netns)
        with NetNS(self.netns) as ns:
            index = ns.link_lookup(ifname=tap)
            bridge = ns.link_lookup(ifname=self.bridge)
            if not index:
                raise RuntimeError(f"tap {tap} of {instance_id} is in neither the root namespace nor {self.netns}")
            if not bridge:
                raise RuntimeError(f"bridge {self.bridge} not found in namespace {self.netns}")
            ns.link("set", index=index[0], master=bridge[0], state="up")
        log.info("plugged %s (%s, %s) into %s/%s", tap, instance_id, nic.mac, self.netns, self.bridge)

    def unplug(self, tap: str) -> None:
        with NetNS(self.netns) as ns:
            _delete_link(ns, tap)
        delete_root_tap(tap)

    def plugged_taps(self) -> set[str]:
        with NetNS(self.netns) as ns:
            return {name for name in _link_names(ns) if is_tap_name(name)}

    def tap_counters(self) -> dict[str, NicCounters]:
        with NetNS(self.netns) as ns:
            return tap_counters(ns.get_links(), is_tap_name)


def tap_counters(links: Iterable[dict], is_ours: Callable[[str], bool]) -> dict[str, NicCounters]:
    """The counters of the taps among ``links`` (netlink link messages) that ``is_ours`` accepts."""
    return {link.get("IFLA_IFNAME"): NicCounters.of_tap(link.get("IFLA_STATS64") or {}) for link in links
            if is_ours(link.get("IFLA_IFNAME") or "")}


def _link_names(ipr: IPRoute | NetNS) -> Iterable[str]:
    return (link.get("IFLA_IFNAME") for link in ipr.get_links())


def _delete_link(ipr: IPRoute | NetNS, name: str) -> bool:
    index = ipr.link_lookup(ifname=name)
    if not index:
        return False
    try:
        ipr.link("del", index=index[0])
    except NetlinkError as exc:
        if exc.code != ENODEV:
            raise
        return False
    return True


def create_root_tap(name: str, alias: str) -> None:
    """A persistent tap in the root namespace, for a domain about to start, labelled with ``alias`` (see
    :func:`agent.contract.naming.tap_alias`). Raises if it already exists (another instance's tap with the
    same name, or a leftover the reconciler has not removed yet)."""
    with IPRoute() as ipr:
        if ipr.link_lookup(ifname=name):
            raise FileExistsError(f"tap {name} already exists")
        ipr.link("add", ifname=name, kind="tuntap", mode="tap")
        try:
            ipr.link("set", index=ipr.link_lookup(ifname=name)[0], ifalias=alias)
        except Exception:
            _delete_link(ipr, name)
            raise


def delete_root_tap(name: str, alias_prefix: str = "") -> bool:
    """Delete a tap left in the root namespace, only if its ifalias starts with ``alias_prefix`` (one driver's
    own: simulated hosts share the root namespace, and a guest arriving by live migration has its tap of the
    same name there); False if there was none."""
    with IPRoute() as ipr:
        found = [link for link in ipr.get_links() if link.get("IFLA_IFNAME") == name]
        if not found or not (found[0].get("IFLA_IFALIAS") or "").startswith(alias_prefix):
            return False
        return _delete_link(ipr, name)


def root_taps(alias_prefix: str = "cloudlet:") -> set[str]:
    """Cloudlet taps in the root namespace whose ifalias starts with ``alias_prefix`` (one driver's taps)."""
    with IPRoute() as ipr:
        return {link.get("IFLA_IFNAME") for link in ipr.get_links()
                if is_tap_name(link.get("IFLA_IFNAME")) and (link.get("IFLA_IFALIAS") or "").startswith(alias_prefix)}
