"""The ``loadbalancers`` section: converge this host's load balancer nodes.

For each node (an ENI of a load balancer in one subnet): a directory ``<state>/lb-nodes/<eni>/``, the
namespace ``naming.service_netns(prefix, eni)`` whose ``eth0`` the network reconciler plugs into the
subnet's bridge with the ENI's MAC (so security groups, NACLs and anti-spoofing apply as to any ENI), the
node's address and default route via the subnet's router, and an HAProxy master running the node's
configuration, reloaded seamlessly when it changes. Until ``eth0`` is there the reconciler ``wants_retry``.
Nodes that leave the section lose their HAProxy, directory and namespace. Running HAProxies are adopted
after an agent restart; one that dies is restarted by the watcher. A reporter thread sends target health
and traffic counters to the controller (:mod:`agent.loadbalancing.reporter`).
"""

from __future__ import annotations

import logging
import pwd
import shutil
from pathlib import Path
from typing import Any

from pyroute2 import IPRoute

from agent.contract.loadbalancers import Node, parse
from agent.loadbalancing import haproxy_config
from agent.loadbalancing.server import BINARY, ConfigRefused, Haproxies, NodeSpec
from agent.network import naming, netns
from agent.service.namespaces import NamespaceAddressing, configure

log = logging.getLogger("cloudlet.agent.loadbalancing")

#: What the host offers once this reconciler runs (the controller may place load balancer nodes by it).
CAPABILITY_ELBV2 = "elbv2"
SECTION = "loadbalancers"
#: Inside a node's namespace: the veth end the network plan puts there.
INTERFACE = "eth0"
#: The account HAProxy workers drop to after binding (Debian's package creates it).
HAPROXY_USER = "haproxy"


class LoadBalancerReconciler:
    """One per agent. ``reconcile`` converges; ``nodes`` is what the reporter reads."""

    def __init__(self, state_dir: Path, name_prefix: str, binary: str = BINARY, check_seconds: float = 1.0,
                 user: str | None = None) -> None:
        self.name_prefix = name_prefix
        self.servers = Haproxies(nodes_root(state_dir), binary, check_seconds)
        self.user = user if user is not None else default_user()
        self.waiting: list[str] = []
        #: Nodes whose new configuration HAProxy refused (they keep serving their previous one).
        self.refused: list[str] = []
        #: The nodes of the last section applied, by interface id (read by the reporter thread).
        self.nodes: dict[str, Node] = {}
        self.servers.watch()

    @property
    def wants_retry(self) -> bool:
        """A node's interface is not plugged yet: look again soon."""
        return bool(self.waiting)

    def reconcile(self, desired: Any) -> None:
        section = parse(desired)
        wanted = {node.interface_id: node for node in section.nodes}
        for name in self.servers.names():
            if name not in wanted:
                self._remove(name)
        waiting, refused = [], []
        for node in section.nodes:
            try:
                reason = self._converge(node)
            except ConfigRefused as exc:  # a bug of ours, not a transient state: said loudly, not retried;
                log.error("%s: %s", node.interface_id, exc)  # the node keeps its previous configuration
                refused.append(node.interface_id)
                continue
            if reason:
                waiting.append(f"{node.interface_id}: {reason}")
        if waiting and waiting != self.waiting:
            log.info("load balancer nodes waiting for: %s", "; ".join(waiting))
        self.waiting = waiting
        self.refused = refused
        self.nodes = wanted

    def close(self) -> None:
        """Stop watching; the HAProxies keep serving while the agent restarts."""
        self.servers.close()

    def namespace(self, node: Node) -> str:
        return naming.service_netns(self.name_prefix, node.interface_id)

    def _converge(self, node: Node) -> str | None:
        """Bring one node up; the reason it cannot serve yet, or None when it serves."""
        name = self.namespace(node)
        recorded = self.servers.recorded_netns(node.interface_id)
        if recorded and recorded != name:
            self._remove(node.interface_id)
        self.servers.claim(node.interface_id, name)
        netns.create(name)
        addressing = NamespaceAddressing(eni_id=node.interface_id, netns=name, ifname=INTERFACE,
                                         addresses=(f"{node.ip}/{node.prefix_len}",), gateway=node.gateway,
                                         gateway6=None)
        with IPRoute(netns=name) as ipr:
            if not configure(ipr, addressing):
                return f"{INTERFACE} is not in {name} yet (the network section must list {node.interface_id})"
        start_node(self.servers, node, name, self.user)
        return None

    def _remove(self, name: str) -> None:
        stop_node(self.servers, name)
        log.info("load balancer node %s removed from this host", name)


def start_node(servers: Haproxies, node: Node, namespace: str, user: str | None) -> str:
    """Render the node's configuration and make its HAProxy run it in ``namespace`` (which must already hold
    the node's address): "started", "reloaded" or "unchanged". The lower-level entry the tests use."""
    directory = servers.directory(node.interface_id)
    rendered = haproxy_config.render(node, str(directory), user)
    for skipped in rendered.skipped:
        log.warning("%s: listener %s", node.interface_id, skipped)
    return servers.ensure(NodeSpec(node.interface_id, namespace, rendered.config, rendered.files))


def stop_node(servers: Haproxies, name: str) -> None:
    """Stop the node's HAProxy, delete its directory and its namespace."""
    namespace = servers.recorded_netns(name)
    servers.stop(name)
    if namespace:
        netns.remove(namespace)


def default_user() -> str | None:
    try:
        pwd.getpwnam(HAPROXY_USER)
    except KeyError:
        return None
    return HAPROXY_USER


def nodes_root(state_dir: Path) -> Path:
    return state_dir / "lb-nodes"


def teardown(state_dir: Path) -> list[str]:
    """Stop every HAProxy of this agent and delete their namespaces and directories."""
    servers = Haproxies(nodes_root(state_dir))
    removed = servers.names()
    for name in removed:
        stop_node(servers, name)
    return removed


def register(registry: Any, context: Any) -> None:
    """Register the ``loadbalancers`` reconciler (and its reporter) where the VPC dataplane runs and HAProxy
    is installed."""
    if not context.dataplane:
        log.warning("ELB disabled: load balancer nodes need the VPC dataplane on this host")
        return
    if shutil.which(BINARY) is None:
        log.warning("ELB disabled: HAProxy is not installed (package haproxy)")
        return
    from agent.loadbalancing.link import LoadBalancerLink
    from agent.loadbalancing.reporter import Reporter

    reconciler = LoadBalancerReconciler(context.state_dir, context.name_prefix)
    client = context.client
    link = LoadBalancerLink(client.host, client.port, client.token, context.host_id)
    reporter = Reporter(reconciler, link.report)
    reporter.start()
    registry.add(SECTION, ReportingReconciler(reconciler, reporter), capabilities=[CAPABILITY_ELBV2])


class ReportingReconciler:
    """The reconciler plus its reporter thread, closed together when the agent stops."""

    def __init__(self, reconciler: LoadBalancerReconciler, reporter: Any) -> None:
        self.reconciler, self.reporter = reconciler, reporter

    @property
    def wants_retry(self) -> bool:
        return self.reconciler.wants_retry

    def reconcile(self, desired: Any) -> None:
        self.reconciler.reconcile(desired)
        self.reporter.wake()

    def close(self) -> None:
        self.reporter.close()
        self.reconciler.close()
