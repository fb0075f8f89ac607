"""Live migration of a running instance from this host's libvirtd to another host's (``cloudlet host drain``).

How it goes (the controller orchestrates it through the two hosts' desired documents):
1. The target host's section lists the instance as ``incoming``: its agent caches the AMI, creates the root
   overlay on its own copy of the base image, and makes the instance's taps in the root namespace (libvirt
   opens a ``managed='no'`` tap there when the incoming QEMU starts), without starting anything.
2. The source host's section carries ``migrate_to`` (the target's libvirt URI, the address its QEMU takes
   the migration stream on, its compute directory and owner tag). The source agent asks its libvirtd for a
   peer-to-peer live migration with incremental block copy (``NON_SHARED_INC``: only the overlay's blocks
   travel, the base image is the same AMI on both sides) and a destination XML rewritten for the target
   (:func:`destination_xml`): its paths, its owner tag. A target that is not ready yet (taps or disk
   missing) fails the attempt, which is retried on the next pass.
3. Once the guest runs on the target, the target's agent adopts it (the owner tag is its own) and moves its
   taps into its VPC namespace (the ordinary REPLUG step); the controller, told by the target's report,
   moves the instance and its interfaces to the target, which reprograms the VXLAN forwarding on every host.

Disks are copied, not shared: every host keeps its instances under its own compute directory. Attached
EBS volumes and instance store volumes live elsewhere (the host's volume pool) and are not copied yet, so an
instance with one is refused (:class:`MigrationRefused`) rather than moved without its data.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.compute.domain_xml import NAMESPACE_URI
from agent.compute.reconcile import Action, Step
from agent.compute.spec import Inventory, PowerState
from agent.contract.instances import MigrationTarget
from agent.contract.naming import TAP_NAME, owner_tag

log = logging.getLogger("cloudlet.agent.compute")

#: Elements whose attribute names a host path (disk sources, console log); kernel and initrd are text.
_PATH_ATTRIBUTES = (("devices/disk/source", "file"), ("devices/serial/log", "file"),
                    ("devices/console/log", "file"), ("devices/disk/backingStore/source", "file"))
_PATH_TEXTS = ("os/kernel", "os/initrd")


class MigrationRefused(ValueError):
    """The instance cannot move this way; the message says why and what to do instead."""


def endpoint(compute_dir: Path, libvirt_uri: str, address: str | None) -> dict[str, str]:
    """What a host registers so that others can live-migrate guests to it (``HostRegistration.migration``)."""
    if not address:
        raise ValueError("live migration to this host needs --migration-address or --underlay-ip")
    return {"libvirt_uri": libvirt_uri, "address": address, "compute_dir": str(compute_dir),
            "owner": owner_tag(compute_dir)}


def _moved(path: str, source_dir: Path, target_dir: Path) -> str | None:
    """``path`` under ``target_dir`` instead of ``source_dir``; None when it is not under ``source_dir``."""
    try:
        relative = Path(path).relative_to(source_dir)
    except ValueError:
        return None
    return str(target_dir / relative)


def destination_xml(xml: str, source_dir: Path, target: MigrationTarget) -> str:
    """The domain XML for the target host (pure): every host path under this host's compute directory moved
    under the target's, and Cloudlet's owner tag replaced by the target's. Refuses a disk outside the compute
    directory's ``instances/`` (an EBS or instance store volume: not copied yet)."""
    root = ET.fromstring(xml)
    target_dir = Path(target.compute_dir)
    instances = source_dir / "instances"
    for disk in root.iterfind("devices/disk"):
        source = disk.find("source")
        path = source.get("file") if source is not None else None
        if path is not None and _moved(path, instances, target_dir / "instances") is None:
            serial = disk.findtext("serial") or path
            raise MigrationRefused(f"disk {serial} is not in the instance's directory (an EBS or instance store "
                                   "volume): detach it, or stop the instance, before the host is drained")
    for element_path, attribute in _PATH_ATTRIBUTES:
        for element in root.iterfind(element_path):
            value = element.get(attribute)
            moved = _moved(value, source_dir, target_dir) if value else None
            if moved is not None:
                element.set(attribute, moved)
    for element_path in _PATH_TEXTS:
        element = root.find(element_path)
        moved = _moved(element.text, source_dir, target_dir) if element is not None and element.text else None
        if element is not None and moved is not None:
            element.text = moved
    marker = root.find(f"metadata/{{{NAMESPACE_URI}}}instance")
    if marker is None:
        raise MigrationRefused("the domain carries no Cloudlet metadata: it is not an instance of this agent")
    marker.set("owner", target.owner)
    return ET.tostring(root, encoding="unicode")


def migrate_flags() -> int:
    """Live, peer to peer (this libvirtd talks to the target's), incremental block copy of the overlay, the
    definition persisted on the target and removed here once the guest runs there."""
    import libvirt

    return (libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PEER2PEER | libvirt.VIR_MIGRATE_NON_SHARED_INC
            | libvirt.VIR_MIGRATE_PERSIST_DEST | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE)


def migrate_domain(handle: Any, source_dir: Path, target: MigrationTarget) -> float:
    """Move the running domain ``handle`` (a ``libvirt.virDomain``) to ``target``; the seconds it took.
    Raises ``libvirt.libvirtError`` (the target not ready, the link failing: the guest keeps running here) or
    :class:`MigrationRefused`."""
    import time

    import libvirt

    live = destination_xml(handle.XMLDesc(libvirt.VIR_DOMAIN_XML_MIGRATABLE | libvirt.VIR_DOMAIN_XML_SECURE),
                           source_dir, target)
    persistent = destination_xml(handle.XMLDesc(libvirt.VIR_DOMAIN_XML_MIGRATABLE | libvirt.VIR_DOMAIN_XML_SECURE
                                                | libvirt.VIR_DOMAIN_XML_INACTIVE), source_dir, target)
    params = {libvirt.VIR_MIGRATE_PARAM_DEST_XML: live, libvirt.VIR_MIGRATE_PARAM_PERSIST_XML: persistent,
              libvirt.VIR_MIGRATE_PARAM_URI: f"tcp://[{target.address}]" if ":" in target.address
              else f"tcp://{target.address}"}
    started = time.monotonic()
    handle.migrateToURI3(target.libvirt_uri, params, migrate_flags())
    return time.monotonic() - started


@dataclass(frozen=True)
class Steering:
    """What a pass does about migrations, besides the planner's actions it keeps."""

    actions: list[Action]
    #: Instances to get ready for an incoming guest (disk and taps, nothing started).
    prepare: list[str]
    #: Instances to send away now, with where to.
    send: dict[str, MigrationTarget]


def steer(actions: list[Action], inventory: Inventory, incoming: set[str], outgoing: dict[str, MigrationTarget]) -> Steering:
    """Adjust the planner's ``actions`` for the instances in flight (pure).

    - leaving (``outgoing``): nothing the planner says applies; a running domain is sent, a missing one has
      left already (the controller moves the instance once the target reports it);
    - arriving (``incoming``): no spawn (the guest comes from the source): its disk and taps are prepared
      instead; once its domain is here the planner's adopt and replug steps apply as to any instance; its
      prepared taps are not orphans.
    """
    arriving_taps = {i[2:10] for i in incoming}
    kept: list[Action] = []
    prepare: list[str] = []
    for action in actions:
        if action.instance_id in outgoing:
            continue
        if action.instance_id in incoming and action.step in (Step.SPAWN, Step.SPAWN_STOPPED):
            prepare.append(action.instance_id)
            continue
        if action.step is Step.REMOVE_TAPS:
            taps = tuple(t for t in action.taps if not ((m := TAP_NAME.match(t)) and m.group(1) in arriving_taps))
            if taps:
                kept.append(Action(Step.REMOVE_TAPS, taps=taps))
            continue
        kept.append(action)
    send = {i: target for i, target in outgoing.items()
            if i in inventory.domains and inventory.domains[i].state is PowerState.RUNNING}
    return Steering(kept, prepare, send)
