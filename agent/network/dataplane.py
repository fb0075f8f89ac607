"""The applier: converge this host's namespaces, links, routes, rulesets and DHCP servers to a document.

``Dataplane.apply(document)`` is idempotent and restart-safe: it plans the whole host (pure), creates the
missing namespaces, converges each one's netlink objects (pyroute2) and loads each one's ruleset with a single
``nft -f`` (an atomic table replace), (re)starts or reloads dnsmasq where its files changed, and removes
namespaces of its prefix that the document no longer names. An agent that restarts and applies the same
document keeps every object in place (names, MACs and table numbers are derived from IDs) and reloads the
rulesets, so no rule is lost and no connection is reset.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pyroute2 import IPRoute

from agent.contract.network import HostNetwork
from agent.network import links, naming, netns, uplink
from agent.network.dhcp import DhcpConfig, without_stale_leases
from agent.network.plan import HostPlan, Link, NamespacePlan, plan_host
from agent.network.uplink import HostUplink
from agent.network.validate import check

log = logging.getLogger("cloudlet.agent.network")

DEFAULT_RUN_DIR = "/run/cloudlet/net"


@dataclass
class ApplyReport:
    """What one ``apply`` did; ``pending`` lists ports that could not be plugged yet (VM not started)."""

    generation: int
    created_namespaces: list[str] = field(default_factory=list)
    removed_namespaces: list[str] = field(default_factory=list)
    created_links: list[str] = field(default_factory=list)
    removed_links: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    rulesets_loaded: list[str] = field(default_factory=list)
    dhcp_restarted: list[str] = field(default_factory=list)
    netlink_converged: bool = False
    seconds: float = 0.0


class Dataplane:
    """One per agent. ``apply`` converges, ``teardown`` removes everything under a name prefix.

    ``metadata`` (optional) is told which namespaces exist and who is who after every apply; see
    ``agent.network.imds.MetadataService``. ``uplink`` is the host's uplink choice (``agent.network.uplink``):
    in nat/bridge mode the apply also converges the host namespace's leg, and teardown removes it.
    """

    def __init__(self, run_dir: str = DEFAULT_RUN_DIR, metadata: MetadataSink | None = None,
                 uplink: HostUplink | None = None) -> None:
        self.run_dir = run_dir
        self.metadata = metadata
        self.uplink = uplink or HostUplink()
        self._loaded: dict[str, str] = {}
        self._netlink_fingerprint: str | None = None
        #: the ports the last netlink pass could not plug yet
        self._waiting: list[tuple[str | None, Link]] = []

    # --- public API -----------------------------------------------------------------------------------

    def plan(self, doc: HostNetwork) -> HostPlan:
        """The pure plan of ``doc`` after validation (DocumentError lists every problem)."""
        if self.uplink.host_netns and not netns.exists(self.uplink.host_netns):  # pyroute2 would create it
            raise uplink.UplinkError(f"the host namespace {self.uplink.host_netns!r} does not exist")
        check(doc, host_networks(self.uplink.host_netns))
        if self.uplink.mode != "lab" and not doc.uplink.lan_pool:
            log.warning("uplink %s asked for, but the cloud's public pool %s is the lab's: the host is left alone",
                        self.uplink.mode, doc.uplink.public_pool)
        host_side = uplink.plan_uplink(doc, self.uplink, uplink.discover(self.uplink))
        return plan_host(doc, self.run_dir, host_side)

    def apply(self, doc: HostNetwork, full: bool = False) -> ApplyReport:
        """Converge the host to ``doc``. The netlink pass (links, addresses, rules, routes) runs when the
        plan's kernel objects differ from the last apply of this process, after a restart, when a
        namespace had to be created, or when ``full`` asks for it (the agent's periodic drift repair);
        a security-group or ACL change is then only the ``nft -f`` of the namespaces it touches."""
        started = time.monotonic()
        plan = self.plan(doc)
        report = ApplyReport(doc.generation)
        wanted = [ns.name for ns in plan.namespaces]
        for name in wanted:
            if not netns.exists(name):
                netns.create(name)
                report.created_namespaces.append(name)
                self._loaded.pop(name, None)
        fingerprint = netlink_fingerprint(plan)
        # A pending port (a tap compute has not made yet) is looked for again next time: by a whole netlink
        # pass, unless it was plugged meanwhile (a Batch job plugs its own ENI's veth, ``links.plug_veth``).
        if (full or fingerprint != self._netlink_fingerprint or report.created_namespaces
                or not all(links.plugged(ns, link) for ns, link in self._waiting)):
            self._converge_netlink(plan, report)
            self._netlink_fingerprint = fingerprint
        if plan.uplink is None and uplink.load_state(self.run_dir) is not None:
            log.info("removing the host's uplink leg: %s",
                     ", ".join(uplink.remove_host(self.run_dir, uplink.load_state(self.run_dir))) or "nothing left")
        for ns in plan.namespaces:
            if ns.ruleset is not None and self._loaded.get(ns.name) != ns.ruleset:
                netns.load_ruleset(ns.name, ns.ruleset)
                self._loaded[ns.name] = ns.ruleset
                report.rulesets_loaded.append(ns.name)
            if ns.dhcp is not None and self._sync_dhcp(ns, ns.dhcp):
                report.dhcp_restarted.append(ns.name)
        for name in netns.list_names():
            if naming.is_managed_netns(doc.name_prefix, name) and name not in wanted:
                self._remove_namespace(name)
                report.removed_namespaces.append(name)
        if self.metadata is not None:
            self.metadata.update(doc)
        report.seconds = time.monotonic() - started
        log.info("network generation %d applied in %.3f s (%d links created, %d removed, %d pending)",
                 doc.generation, report.seconds, len(report.created_links), len(report.removed_links),
                 len(report.pending))
        return report

    def _converge_netlink(self, plan: HostPlan, report: ApplyReport) -> None:
        handles: dict[str | None, IPRoute] = {}

        def handle(name: str | None) -> IPRoute:
            if name not in handles:
                handles[name] = IPRoute(netns=name) if name else IPRoute()
            return handles[name]

        try:
            link_report = links.LinkReport()
            if plan.uplink is not None:  # before the Internet namespace's pass, which configures its far end
                uplink.ensure_link(plan.uplink, plan.namespaces[0].name, handle, link_report)
            for ns in plan.namespaces:
                links.create_links(ns, handle, plan.underlay_netns,
                                   (plan.underlay_ip, plan.underlay_port) if plan.underlay_ip else None, link_report)
            for ns in plan.namespaces:
                netns.write_sysctls(ns.name, ns.sysctls)
                links.configure_links(ns, handle)
            for ns in plan.namespaces:
                links.configure_forwarding(ns, handle)
            if plan.uplink is not None:
                uplink.apply_host(self.run_dir, plan.uplink, handle)
        finally:
            for ipr in handles.values():
                ipr.close()
        report.created_links, report.removed_links = link_report.created, link_report.removed
        report.pending, self._waiting = link_report.pending, link_report.waiting
        report.netlink_converged = True

    def teardown(self, name_prefix: str = "cl-") -> list[str]:
        """Remove the host's uplink leg (veth, routes, proxy entries, nft table, ``ip_forward`` as it was) and
        every namespace this prefix's agent made (and its dnsmasq); returns what was removed."""
        removed = uplink.remove_host(self.run_dir, uplink.load_state(self.run_dir))
        for name in netns.list_names():
            if naming.is_managed_netns(name_prefix, name):
                self._remove_namespace(name)
                removed.append(name)
        if self.metadata is not None:
            self.metadata.update(HostNetwork(host_id="", name_prefix=name_prefix))
        return removed

    # --- DHCP -------------------------------------------------------------------------------------------

    def _dhcp_dir(self, ns: str) -> Path:
        return Path(self.run_dir) / ns

    def _sync_dhcp(self, ns: NamespacePlan, config: DhcpConfig) -> bool:
        """Write dnsmasq's files; restart it when its config changed or it is not running, else SIGHUP on
        a hosts change. Returns True when it was (re)started."""
        directory = self._dhcp_dir(ns.name)
        directory.mkdir(parents=True, exist_ok=True)
        conf, hosts = directory / "dnsmasq.conf", directory / "hosts"
        pid = _running_pid(directory / "dnsmasq.pid", str(conf))
        hosts_changed = not hosts.exists() or hosts.read_text() != config.hosts
        if hosts_changed:
            hosts.write_text(config.hosts)
        dns_hosts = directory / "dns-hosts"  # the VPC resolver's names: a SIGHUP, never a restart
        if not dns_hosts.exists() or dns_hosts.read_text() != config.dns_hosts:
            dns_hosts.write_text(config.dns_hosts)
            hosts_changed = True
        leases = directory / "leases"
        pruned = without_stale_leases(leases.read_text(), config.hosts) if hosts_changed and leases.exists() \
            else None
        if pid is not None and conf.exists() and conf.read_text() == config.config and pruned is None:
            if hosts_changed:
                os.kill(pid, signal.SIGHUP)
            return False
        if pid is not None:
            _stop(pid)  # dnsmasq reads its leases only at start: a lease blocking a reservation costs a restart
        if pruned is not None:
            leases.write_text(pruned)
        conf.write_text(config.config)
        netns.command(ns.name, ["dnsmasq", f"--conf-file={conf}", f"--pid-file={directory / 'dnsmasq.pid'}"])
        return True

    def _remove_namespace(self, name: str) -> None:
        directory = self._dhcp_dir(name)
        pid = _running_pid(directory / "dnsmasq.pid", str(directory / "dnsmasq.conf"))
        if pid is not None:
            _stop(pid)
        for file in ("dnsmasq.conf", "hosts", "dns-hosts", "leases", "dnsmasq.pid"):
            (directory / file).unlink(missing_ok=True)
        if directory.exists():
            directory.rmdir()
        netns.remove(name)
        self._loaded.pop(name, None)


class MetadataSink(Protocol):
    """Told the whole document after each apply (``agent.network.imds.MetadataService`` is one)."""

    def update(self, doc: HostNetwork) -> None: ...


def netlink_fingerprint(plan: HostPlan) -> str:
    """Everything of the plan that netlink realises (not rulesets, not DHCP files), as one comparable text."""
    return repr([(ns.name, ns.links, ns.routes, ns.rules, ns.neighbours, ns.fdb, ns.proxies, ns.sysctls,
                  ns.open_bridges) for ns in plan.namespaces]
                + [plan.underlay_netns, plan.underlay_ip, plan.underlay_port, plan.uplink])


def host_networks(host_netns: str | None = None) -> list[str]:
    """The host namespace's own IPv4 networks: the lab uplink must never overlap them."""
    with IPRoute(netns=host_netns) if host_netns else IPRoute() as ipr:
        return sorted({str(ipaddress.ip_interface(f"{msg.get('address')}/{msg['prefixlen']}").network)
                       for msg in ipr.get_addr(family=socket.AF_INET) if msg["scope"] == 0})


def _running_pid(pid_file: Path, conf: str) -> int | None:
    """The pid in ``pid_file`` if that process is alive and is the dnsmasq reading ``conf``."""
    try:
        pid = int(pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    return pid if f"--conf-file={conf}".encode() in cmdline else None


def _stop(pid: int, timeout: float = 2.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        try:
            if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
                break
        except OSError:
            break
        time.sleep(0.01)
    else:
        if Path(f"/proc/{pid}").exists():
            subprocess.run(["kill", "-9", str(pid)], check=False)
