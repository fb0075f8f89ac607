"""The ``efs`` section: converge this host's mount targets, access points and file system data.

For each mount target: the file system's data directory, its access points' directories, the namespace
``naming.service_netns(prefix, eni)`` whose ``eth0`` the network reconciler plugs into the subnet's bridge
with the ENI's MAC (so the VPC's security groups, ACLs and anti-spoofing apply to it as to any ENI; see
``agent.contract.network.Attachment``), the mount target's address and default route on that ``eth0``, and a
ganesha bound to ``<ip>:2049``. Until ``eth0`` is there the reconciler ``wants_retry``. Mount targets that
leave the section lose their server, directory and namespace; file systems that leave it lose their data.
Everything is found again by name after an agent restart, and the running servers are adopted.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from pyroute2 import IPRoute

from agent.contract.efs import MountTarget, parse
from agent.network import naming, netns
from agent.nfs import ganesha, storage
from agent.nfs.server import BINARY, Servers, ServerSpec
from agent.service.namespaces import NamespaceAddressing, configure

log = logging.getLogger("cloudlet.agent.efs")

#: What the host offers once this reconciler runs (the controller may place mount targets by it).
CAPABILITY_EFS = "efs"
#: Inside a mount target's namespace: the veth end the network plan puts there.
INTERFACE = "eth0"


class EfsReconciler:
    """One per agent. ``reconcile`` converges; the servers' watcher restarts a server that dies."""

    def __init__(self, state_dir: Path, name_prefix: str, binary: str = BINARY, check_seconds: float = 1.0) -> None:
        self.name_prefix = name_prefix
        self.data_root = data_root(state_dir)
        self.servers = Servers(servers_root(state_dir), binary, check_seconds)
        self.waiting: list[str] = []
        self.servers.watch()

    @property
    def wants_retry(self) -> bool:
        """A mount target's interface is not plugged yet: look again soon."""
        return bool(self.waiting)

    def reconcile(self, desired: Any) -> None:
        section = parse(desired)
        wanted = {target.mount_target_id: target for target in section.mount_targets}
        for name in self.servers.names():
            if name not in wanted:
                self._remove_server(name)
        keep = set(section.file_systems) | {target.file_system_id for target in section.mount_targets}
        waiting = []
        for target in section.mount_targets:
            reason = self._converge(target)
            if reason:
                waiting.append(f"{target.mount_target_id}: {reason}")
        for file_system_id in storage.file_systems_present(self.data_root):
            if file_system_id not in keep:
                storage.remove_file_system(self.data_root, file_system_id)
        for file_system_id in sorted(keep):
            storage.ensure_file_system(self.data_root, file_system_id)
        if waiting and waiting != self.waiting:
            log.info("EFS waiting for: %s", "; ".join(waiting))
        self.waiting = waiting

    def close(self) -> None:
        """Stop watching the servers; they keep serving while the agent restarts."""
        self.servers.close()

    def namespace(self, target: MountTarget) -> str:
        return naming.service_netns(self.name_prefix, target.interface_id)

    def _converge(self, target: MountTarget) -> str | None:
        """Bring one mount target up; the reason it cannot serve yet, or None when it serves."""
        data_dir = storage.ensure_file_system(self.data_root, target.file_system_id)
        points = {}
        for point in target.access_points:
            directory = storage.prepare_access_point(data_dir, point)
            if directory is not None:
                points[point.access_point_id] = directory
        name = self.namespace(target)
        recorded = self.servers.recorded_netns(target.mount_target_id)
        if recorded and recorded != name:  # the interface changed: the old namespace goes
            self._remove_server(target.mount_target_id)
        self.servers.claim(target.mount_target_id, name)
        netns.create(name)
        addressing = NamespaceAddressing(eni_id=target.interface_id, netns=name, ifname=INTERFACE,
                                         addresses=(f"{target.ip}/{target.prefix_len}",), gateway=target.gateway,
                                         gateway6=None)
        with IPRoute(netns=name) as ipr:
            if not configure(ipr, addressing):
                return f"{INTERFACE} is not in {name} yet (the network section must list {target.interface_id})"
        paths = ganesha.ServerPaths(data_dir=str(data_dir),
                                    recovery_dir=str(self.servers.directory(target.mount_target_id) / "recovery"),
                                    access_point_dirs=points)
        self.servers.ensure(ServerSpec(target.mount_target_id, name, ganesha.config(target, paths)))
        return None

    def _remove_server(self, name: str) -> None:
        namespace = self.servers.recorded_netns(name)
        self.servers.stop(name)
        if namespace:
            netns.remove(namespace)
        log.info("mount target %s removed from this host", name)


def data_root(state_dir: Path) -> Path:
    return state_dir / "efs"


def servers_root(state_dir: Path) -> Path:
    return state_dir / "efs-servers"


def teardown(state_dir: Path) -> list[str]:
    """Stop every NFS server of this agent and delete their namespaces (file system data stays)."""
    servers = Servers(servers_root(state_dir))
    removed = servers.names()
    for name in removed:
        namespace = servers.recorded_netns(name)
        servers.stop(name)
        if namespace:
            netns.remove(namespace)
    return removed


def register(registry: Any, context: Any) -> None:
    """Register the ``efs`` reconciler where the VPC dataplane runs (root) and nfs-ganesha is installed."""
    if not context.dataplane:
        log.warning("EFS disabled: mount targets need the VPC dataplane on this host")
        return
    if shutil.which(BINARY) is None:
        log.warning("EFS disabled: nfs-ganesha is not installed (packages nfs-ganesha, nfs-ganesha-vfs)")
        return
    registry.add("efs", EfsReconciler(context.state_dir, context.name_prefix), capabilities=[CAPABILITY_EFS])
