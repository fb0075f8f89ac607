"""The compute reconciler of the agent: the ``instances`` section of the desired document, made real with libvirt.

``register`` (called by ``agent.main`` at start) prepares the host, probes the accelerator
(KVM if a guest really boots under it, TCG otherwise; the answer is cached per host boot), and registers an
:class:`InstancesReconciler` that the agent calls whenever the section changes. One pass:

1. the AMIs the instances use are put in the host's verified image cache (copied from the controller's
   store when this host shares its disk, downloaded over the agent RPC otherwise);
2. the section becomes ``agent.compute.reconcile`` intents (an ``InstanceSpec`` per instance: the type's
   size scaled for the homelab, the root volume as an overlay on the cached image, NICs with their ENIs'
   MACs, instance store volumes, the EBS volumes it should have), the planner compares them with what the
   host has, the driver acts; then each domain's EBS attachments are converged (``attachments``);
3. instance store volumes are blank at every start and deleted at stop (EC2 loses them too); a root volume
   with DeleteOnTermination false moves into the EBS pool at termination; reboot requests are carried out
   once each; CreateImage captures run on a worker thread (copy of the root volume, upload to the controller);
   a stopped instance's root disk moving to another host is uploaded, or fetched before it is defined
   (``agent.compute.disk_move``);
4. what the host now has is reported (``POST /hosts/<id>/instances``, with the volumes attached to each
   instance), which moves the instances through AWS's states on the controller.

``register`` also registers the ``volumes`` reconciler (``agent.storage``), sharing the driver and its lock.
It runs after this one, so it knows the root volumes of the instances just placed here (those files are
compute's); a volume file it makes is attached on the pass it then asks for (within a second).

Between passes a watcher thread looks at the instances every :data:`WATCH_INTERVAL` seconds and reports
what changed on its own: a guest that powered itself off, new console output.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import suppress
from pathlib import Path
from typing import Any

from agent.compute import disk_move, metrics, migration, reconcile
from agent.compute.attachments import Attachments
from agent.compute.driver import ComputeDriver, ComputeError, InstanceNotFound
from agent.compute.images import AmiManifest, CachedImage, ImageCache, ImageError, ImageFile
from agent.compute.link import ControllerLink
from agent.compute.reconcile import Desired, Step, Wanted
from agent.compute.spec import (
    BootMode,
    InstanceSpec,
    Inventory,
    NicSpec,
    PowerState,
    RootDiskSpec,
    VolumeSpec,
)
from agent.compute.vpc_plug import VpcPlugger
from agent.contract.codec import from_json
from agent.contract.instances import DesiredInstance, ImageView, InstancesSection
from agent.contract.naming import tap_alias
from agent.storage.pool import PoolError, VolumePool

log = logging.getLogger("cloudlet.agent.compute")

CAPABILITY_COMPUTE = "compute"
#: How often the watcher looks for changes the controller must hear about between passes.
WATCH_INTERVAL = 2.0
CONSOLE_BYTES = 64 * 1024
REPO = Path(__file__).resolve().parents[2]
#: The tiny AMI built by images/ carries the probe guest (kernel + initramfs printing a marker).
DEFAULT_PROBE_MANIFEST = REPO / "images" / "out" / "tiny" / "manifest.json"
COMPUTE_ROOT = Path("/var/lib/cloudlet/compute")


# --- the section -----------------------------------------------------------------------------------------------


def manifest_of(view: ImageView, local: dict[str, Path]) -> AmiManifest:
    """An AMI as the section describes it, with ``local`` paths of its files on this host."""
    files = view.files

    def image_file(role: str) -> ImageFile | None:
        return ImageFile(local[role], files[role]["sha256"]) if role in files else None

    root = image_file("root_disk")
    assert root is not None
    return AmiManifest(name=view.image_id, boot_mode=BootMode(view.boot_mode), root_disk=root,
                       root_virtual_size=int(files["root_disk"]["virtual_size"]), kernel=image_file("kernel"),
                       initrd=image_file("initrd"), cmdline=view.cmdline)


def root_disk_path(driver: ComputeDriver, instance_id: str) -> Path:
    """Where the driver keeps an instance's root volume (CreateImage copies it)."""
    paths = getattr(driver, "paths", None)
    if paths is None:
        raise ComputeError(f"the {type(driver).__name__} cannot say where the root volume of {instance_id} is")
    return Path(paths(instance_id).root_disk)


def pool_dir(compute_state_dir: Path) -> Path:
    """The host's EBS volume pool (``agent.storage``): next to the instances, traversable by QEMU."""
    return compute_state_dir / "volumes"


def ephemeral_volume_id(instance_id: str, name: str) -> str:
    """A stable volume id for an instance store volume (the guest finds it by this serial)."""
    return "vol-" + hashlib.sha256(f"{instance_id}:{name}".encode()).hexdigest()[:17]


class InstancesReconciler:
    """Converges this host to the ``instances`` section (see the module docstring).

    The driver is opened on first need, when the section names instances or compute has state on this host
    from an earlier run: an agent that never runs an instance (a network-only host, a test) leaves nothing.
    """

    def __init__(self, open_driver: Callable[[], ComputeDriver], plugger: VpcPlugger, state_dir: Path,
                 link: ControllerLink, *, watch_interval: float = WATCH_INTERVAL) -> None:
        self.open_driver = open_driver
        self._driver: ComputeDriver | None = None
        self.plugger = plugger
        self.state_dir = state_dir
        self.link = link
        self.cache = ImageCache(state_dir / "images")
        self.downloads = state_dir / "downloads"
        self.ephemeral = state_dir / "ephemeral"
        self.acks_file = state_dir / "acks.json"
        #: The reboot and start requests carried out, per instance (kept across agent restarts).
        self.reboots, self.starts = self._load_acks()
        self.wanted: dict[str, DesiredInstance] = {}
        self.failed_spawns: dict[str, str] = {}
        self.retry = False
        #: Serialises driver calls of the passes, the watcher and the storage reconciler's workers.
        self._lock = threading.RLock()
        self.pool = VolumePool(pool_dir(state_dir))
        self.attachments = Attachments(self.pool.directory)
        self._boot_volumes: dict[str, tuple[VolumeSpec, ...]] = {}
        self._consoles: dict[str, str] = {}
        self._last_report: str = ""
        self._captures: dict[str, threading.Thread] = {}
        self._capture_failures: dict[str, str] = {}
        self.metrics = metrics.MetricsSampler()
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, args=(watch_interval,), name="compute-watch",
                                         daemon=True)
        self._watcher.start()

    # --- the agent's interface ----------------------------------------------------------------------------------

    @property
    def wants_retry(self) -> bool:
        return self.retry

    def reconcile(self, desired: dict[str, Any]) -> None:
        with self._lock:
            self._reconcile(desired)

    def close(self) -> None:
        self._stop.set()
        self._watcher.join(timeout=5)

    def pending_roots(self) -> set[str]:
        """Root volumes of the wanted instances (the storage reconciler leaves their files to this one)."""
        return {w.root_disk.volume_id for w in self.wanted.values() if w.state != "terminated"}

    def volumes_changed(self) -> None:
        """A volume file appeared or changed in the pool: run the next pass even if the section did not change."""
        self.retry = True

    # --- one pass ------------------------------------------------------------------------------------------------

    @property
    def driver(self) -> ComputeDriver:
        if self._driver is None:
            self._driver = self.open_driver()
        return self._driver

    def _reconcile(self, document: dict[str, Any]) -> None:
        section = from_json(InstancesSection, document)
        wanted = {w.instance_id: w for w in section.instances}
        self.wanted = wanted
        if self._driver is None and not wanted and not self.state_dir.exists():
            return  # nothing to run, nothing left from before
        self.plugger.set_routes({(w.instance_id, n.device_index): (n.vpc_id, n.subnet_id)
                                 for w in wanted.values() for n in w.nics})
        images = self._cache_images(section.images, wanted.values())
        volumes = {w.instance_id: tuple(w.volumes) for w in wanted.values() if w.state != "terminated"}
        secrets = self.attachments.secrets(self.driver, volumes)
        self._boot_volumes = self.attachments.boot_volumes(self.driver, volumes, secrets)
        intents: dict[str, Desired] = {}
        for w in wanted.values():
            if w.state == "terminated":
                # a root volume that could not be kept leaves its instance alone until it is
                if w.root_disk.delete_on_termination or self._keep_root_disk(w):
                    intents[w.instance_id] = Desired(Wanted.TERMINATED)
            elif w.image_id in images:
                intents[w.instance_id] = Desired(Wanted(w.state), self._spec(w, images[w.image_id]))
        for instance_id in sorted(i for i in set(wanted) - set(intents) if wanted[i].state != "terminated"):
            log.warning("instance %s waits for its image %s", instance_id, wanted[instance_id].image_id)
        inventory = self.driver.inventory()
        steering = migration.steer(reconcile.plan(intents, inventory), inventory,
                                   {i for i, w in wanted.items() if w.incoming},
                                   {i: w.migrate_to for i, w in wanted.items() if w.migrate_to is not None})
        actions = steering.actions
        # leave alone what the planner cannot judge: instances whose image, or moved disk, is not there yet
        # (and, while there are any, the taps it would call orphans)
        unfetched = self._fetch_moved_disks(intents, inventory)
        waiting = set(wanted) - set(intents) | unfetched
        actions = [self._started_again(a) for a in actions if (a.step is Step.REMOVE_TAPS and not waiting)
                   or (a.step is not Step.REMOVE_TAPS and a.instance_id not in waiting)]
        self._prepare_instance_store(actions, intents)
        outcomes = reconcile.apply(self.driver, actions)
        self._after(outcomes)
        moved = all((self._migrate(steering, intents), self._send_disks(), not unfetched))
        attached = self.attachments.converge(self.driver, volumes, secrets)
        self._carry_out_reboots(wanted)
        self._start_captures(wanted)
        # while a guest is on its way here, a pass every retry interval: the one after it arrives reports it
        # running at once, and the controller then moves the instance (and its network) here
        self.retry = (any(not o.ok for o in outcomes) or len(intents) < len(wanted) or not attached or not moved
                      or any(w.incoming for w in wanted.values()))
        self._report(force=True)

    def _migrate(self, steering: migration.Steering, intents: dict[str, Desired]) -> bool:
        """Prepare for the guests arriving and send the ones leaving; False when any of it must be tried again
        (a target not ready yet fails the sending: the guest keeps running here)."""
        ok = True
        for instance_id, target in [*((i, None) for i in steering.prepare), *steering.send.items()]:
            try:
                if target is None:
                    self.driver.prepare_incoming(intents[instance_id].spec)
                else:
                    self.driver.migrate_out(instance_id, target)
            except (ComputeError, OSError) as exc:
                log.warning("migration of %s: %s", instance_id, exc)
                ok = False
        return ok

    def _fetch_moved_disks(self, intents: dict[str, Desired], inventory: Inventory) -> set[str]:
        """The root disks of stopped instances moved here (``disk_from``) that this host does not have yet,
        fetched (``agent.compute.disk_move``); the ids whose fetch failed (left out of this pass)."""
        failed = set()
        for instance_id, w in self.wanted.items():
            desired = intents.get(instance_id)
            if w.disk_from is None or desired is None or desired.spec is None or instance_id in inventory.domains:
                continue
            try:
                root = root_disk_path(self.driver, instance_id)
                if not root.exists():
                    disk_move.fetch(self.link, instance_id, w.disk_from, desired.spec.root_disk.base_image, root)
            except (ComputeError, OSError) as exc:
                log.warning("disk of %s: cannot fetch it: %s", instance_id, exc)
                failed.add(instance_id)
        return failed

    def _send_disks(self) -> bool:
        """Upload the root disks of the stopped instances leaving this host (``send_disk``) whose domain is shut
        off; False when one must be tried again."""
        ok = True
        for instance_id, w in self.wanted.items():
            if not w.send_disk or w.state != "stopped":
                continue
            try:
                if self.driver.get_info(instance_id).state is PowerState.SHUTOFF:
                    disk_move.send(self.link, instance_id, root_disk_path(self.driver, instance_id))
                else:
                    ok = False  # still powering off: send it on a later pass
            except (ComputeError, OSError) as exc:
                log.warning("disk of %s: cannot send it: %s", instance_id, exc)
                ok = False
        return ok

    def _started_again(self, action: reconcile.Action) -> reconcile.Action:
        """A guest-stopped domain of an instance the controller started since: boot it (a StopInstances powers
        guests off through ACPI, which libvirt records exactly like a shutdown from inside the guest)."""
        if action.step is not Step.GUEST_STOPPED:
            return action
        wanted = self.wanted[action.instance_id]
        if wanted.start_serial > self.starts.get(action.instance_id, 0):
            return reconcile.Action(Step.START, action.instance_id)
        return action

    def _cache_images(self, views: dict[str, ImageView], wanted: Iterable[DesiredInstance]
                      ) -> dict[str, CachedImage]:
        cached = {}
        for image_id in sorted({w.image_id for w in wanted if w.state != "terminated"}):
            view = views.get(image_id)
            if view is None:
                continue
            try:
                cached[image_id] = self.cache.ensure(image_id, manifest_of(view, self._local_files(view)))
            except (ImageError, OSError) as exc:
                log.warning("image %s unavailable on this host: %s", image_id, exc)
        return cached

    def _local_files(self, view: ImageView) -> dict[str, Path]:
        """Each file of an AMI on this host: the controller's copy when it is here, else a download."""
        local = {}
        for role, record in view.files.items():
            path = Path(record.get("path", ""))
            if path.is_file():
                local[role] = path
                continue
            target = self.downloads / view.image_id / record["file"]
            if not target.is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                self.link.download(view.image_id, role, target)
            local[role] = target
        return local

    def _spec(self, w: DesiredInstance, image: CachedImage) -> InstanceSpec:
        volumes = tuple(VolumeSpec(ephemeral_volume_id(w.instance_id, s.name),
                                   self.ephemeral / w.instance_id / f"{s.name}.qcow2")
                        for s in w.instance_store)
        return InstanceSpec(
            instance_id=w.instance_id, vcpus=w.vcpus, memory_mib=w.memory_mib, boot=image.boot,
            root_disk=RootDiskSpec(image.base_disk, max(w.root_disk.size_bytes, image.virtual_size),
                                   w.root_disk.volume_id),
            nics=tuple(NicSpec(n.device_index, n.mac.lower(), n.interface_id) for n in w.nics),
            volumes=volumes + self._boot_volumes.get(w.instance_id, ()), image_id=w.image_id,
            instance_type=w.instance_type)

    def _keep_root_disk(self, w: DesiredInstance) -> bool:
        """DeleteOnTermination false: the root volume moves into the pool as ``<volume id>.qcow2``, a
        standalone copy (its AMI base flattened in, so it outlives the image cache), before the domain and
        its directory go. A crash in between repeats the move on the next pass. False when it failed."""
        paths = getattr(self.driver, "paths", None)
        root = paths(w.instance_id).root_disk if paths is not None else None
        try:
            if root is not None and root.exists():
                with suppress(InstanceNotFound):
                    self.driver.power_off(w.instance_id, force=True)
                kept = self.pool.adopt(w.root_disk.volume_id, root)
                log.info("%s terminated; its root volume is kept as %s", w.instance_id, kept)
            self.driver.destroy(w.instance_id)
        except (ComputeError, PoolError, OSError) as exc:
            log.warning("cannot terminate %s keeping its root volume: %s", w.instance_id, exc)
            return False
        return True

    # --- instance store: blank at start, gone at stop ------------------------------------------------------------

    def _prepare_instance_store(self, actions: list[reconcile.Action], intents: dict[str, Desired]) -> None:
        for action in actions:
            if action.step in (Step.SPAWN, Step.SPAWN_STOPPED, Step.START):
                desired = intents.get(action.instance_id)
                if desired is not None and desired.spec is not None:
                    self._blank_volumes(desired.spec)

    def _blank_volumes(self, spec: InstanceSpec) -> None:
        """The instance store volumes of ``spec`` (never its EBS volumes: those keep their data), blank."""
        directory = self.ephemeral / spec.instance_id
        for store in self.wanted[spec.instance_id].instance_store:
            path = directory / f"{store.name}.qcow2"
            directory.mkdir(parents=True, exist_ok=True)
            os.chmod(directory, 0o755)
            path.unlink(missing_ok=True)
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), str(store.size_bytes)],
                           check=True, capture_output=True)

    def _after(self, outcomes: list[reconcile.Outcome]) -> None:
        for outcome in outcomes:
            action = outcome.action
            if action.step in (Step.SPAWN, Step.SPAWN_STOPPED):
                if outcome.ok:
                    self.failed_spawns.pop(action.instance_id, None)
                    self.reboots.setdefault(action.instance_id, self.wanted[action.instance_id].reboot_serial)
                else:
                    self.failed_spawns[action.instance_id] = outcome.error
            if outcome.ok and action.step in (Step.SPAWN, Step.START, Step.ADOPT):
                self.starts[action.instance_id] = self.wanted[action.instance_id].start_serial
            if outcome.ok and action.step is Step.STOP:
                shutil.rmtree(self.ephemeral / action.instance_id, ignore_errors=True)
            if outcome.ok and action.step in (Step.DESTROY, Step.REMOVE_DISK):
                shutil.rmtree(self.ephemeral / action.instance_id, ignore_errors=True)
                self.reboots.pop(action.instance_id, None)
                self.starts.pop(action.instance_id, None)
                self._consoles.pop(action.instance_id, None)
        for leftover in self.ephemeral.glob("i-*") if self.ephemeral.exists() else ():
            if leftover.name not in self.wanted:
                shutil.rmtree(leftover, ignore_errors=True)
        self._save_acks()

    # --- reboots and captures ----------------------------------------------------------------------------------------

    def _load_acks(self) -> tuple[dict[str, int], dict[str, int]]:
        try:
            data = json.loads(self.acks_file.read_text())
            return ({k: int(v) for k, v in data.get("reboots", {}).items()},
                    {k: int(v) for k, v in data.get("starts", {}).items()})
        except (OSError, ValueError, AttributeError):
            return {}, {}

    def _save_acks(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        partial = self.acks_file.with_suffix(".tmp")
        partial.write_text(json.dumps({"reboots": self.reboots, "starts": self.starts}))
        os.replace(partial, self.acks_file)

    def _carry_out_reboots(self, wanted: dict[str, DesiredInstance]) -> None:
        for w in wanted.values():
            done = self.reboots.setdefault(w.instance_id, w.reboot_serial)
            if w.state != "running" or w.reboot_serial <= done:
                continue
            try:
                self.driver.reboot(w.instance_id)
            except ComputeError as exc:
                log.warning("reboot of %s failed: %s", w.instance_id, exc)
                continue
            log.info("rebooted %s (request %d)", w.instance_id, w.reboot_serial)
            self.reboots[w.instance_id] = w.reboot_serial
        self._save_acks()

    def _start_captures(self, wanted: dict[str, DesiredInstance]) -> None:
        for w in wanted.values():
            for capture in w.captures:
                image_id = capture.image_id
                running = self._captures.get(image_id)
                if running is not None and running.is_alive():
                    continue
                if image_id in self._captures or image_id in self._capture_failures:
                    continue  # done (the controller will drop it) or failed (reported)
                thread = threading.Thread(target=self._capture, args=(w.instance_id, image_id,
                                                                      capture.no_reboot),
                                          name=f"capture-{image_id}", daemon=True)
                self._captures[image_id] = thread
                thread.start()

    def _capture(self, instance_id: str, image_id: str, no_reboot: bool) -> None:
        """CreateImage: a flattened copy of the root volume, taken with the guest off unless NoReboot."""
        work = self.state_dir / "captures" / f"{image_id}.qcow2"
        work.parent.mkdir(parents=True, exist_ok=True)
        restart = False
        try:
            with self._lock:
                info = self.driver.get_info(instance_id)
                if info.state is PowerState.RUNNING and not no_reboot:
                    self.driver.power_off(instance_id)
                    restart = True
                root = root_disk_path(self.driver, instance_id)
                result = subprocess.run(["qemu-img", "convert", "-U", "-q", "-O", "qcow2", str(root), str(work)],
                                        capture_output=True, text=True)
                if restart:
                    self.driver.power_on(instance_id)
            if result.returncode != 0:
                raise OSError(result.stderr.strip() or "qemu-img convert failed")
            self.link.upload_capture(image_id, work)
            log.info("image %s captured from %s", image_id, instance_id)
        except (OSError, ComputeError) as exc:
            log.warning("capture of %s from %s failed: %s", image_id, instance_id, exc)
            self._capture_failures[image_id] = str(exc)[:200]
        finally:
            work.unlink(missing_ok=True)

    # --- reports -------------------------------------------------------------------------------------------------

    def _observations(self) -> list[dict[str, Any]]:
        seen = []
        for instance_id in sorted(self.wanted):
            if instance_id in self.failed_spawns and self.wanted[instance_id].state == "running":
                seen.append({"instance_id": instance_id, "power": "failed", "error": self.failed_spawns[instance_id]})
                continue
            try:
                info = self.driver.get_info(instance_id)
            except InstanceNotFound:
                seen.append({"instance_id": instance_id, "power": "absent"})
                continue
            # with the last start request carried out, so that the controller can tell a guest shutdown
            # from before a StartInstances (the domain not booted yet) from one after it
            seen.append({"instance_id": instance_id, "power": info.state.value,
                         "stopped_by_guest": info.stopped_by_guest,
                         "start_serial": self.starts.get(instance_id, 0)})
        return seen

    def _changed_consoles(self) -> dict[str, str]:
        """The console tails that changed since they were last reported."""
        changed = {}
        for instance_id in sorted(self.wanted):
            try:
                output = self.driver.get_console_output(instance_id, max_bytes=CONSOLE_BYTES)
            except InstanceNotFound:
                continue
            mark = hashlib.sha256(output).hexdigest()
            if output and self._consoles.get(instance_id) != mark:
                self._consoles[instance_id] = mark
                changed[instance_id] = base64.b64encode(output).decode()
        return changed

    def _report(self, *, force: bool) -> None:
        instances = self._observations()
        consoles = self._changed_consoles()
        failures = dict(self._capture_failures)
        volumes = self.attachments.report(self.driver, self.wanted)
        digest = json.dumps([instances, volumes], sort_keys=True)
        if not force and not consoles and not failures and digest == self._last_report:
            return
        report = {"complete": True, "instances": instances, "consoles": consoles,
                  "reboots": {i: n for i, n in self.reboots.items() if i in self.wanted},
                  "capture_failures": failures, "volumes": volumes}
        try:
            self.link.report(report)
        except OSError as exc:
            log.warning("cannot report instances: %s", exc)
            for instance_id in consoles:
                self._consoles.pop(instance_id, None)  # send them again next time
            self._last_report = ""
            return
        self._last_report = digest

    def _watch(self, interval: float) -> None:
        next_metrics = time.monotonic()
        while not self._stop.wait(interval):
            try:
                with self._lock:
                    if self._driver is not None:
                        self._report(force=False)
                if self._driver is not None and time.monotonic() >= next_metrics:
                    next_metrics = time.monotonic() + metrics.INTERVAL
                    self._report_metrics()
            except Exception:  # the watcher must outlive a bad moment of libvirt or the controller
                log.exception("instance watch failed; retrying")

    def _report_metrics(self) -> None:
        """Post the running instances' CloudWatch metrics since the last sample (outside the driver lock: the
        controller's answer must never hold up a pass)."""
        with self._lock:
            usages = self._driver.usage() if self._driver is not None else {}
        report = self.metrics.report(usages)
        if report["instances"]:
            try:
                self.link.report_metrics(report)
            except OSError as exc:
                log.warning("cannot report instance metrics: %s", exc)


# --- registration ----------------------------------------------------------------------------------------------------


def compute_dir(agent_state_dir: Path) -> Path:
    """Where compute keeps disks, consoles and the image cache. QEMU runs as libvirt-qemu and must traverse
    every directory above an instance's files: the agent's state dir when it allows that, else (a state dir
    inside a 0700 data dir, as ``cloudlet up`` makes) ``/var/lib/cloudlet/compute/<owner tag of the state
    dir>``; ``$CLOUDLET_COMPUTE_DIR`` wins over both."""
    from agent.contract.naming import owner_tag

    configured = os.environ.get("CLOUDLET_COMPUTE_DIR")
    if configured:
        return Path(configured)
    resolved = agent_state_dir.resolve()
    if all(os.stat(p).st_mode & 0o001 for p in [resolved, *resolved.parents] if p.exists()):
        return resolved / "compute"
    return COMPUTE_ROOT / owner_tag(agent_state_dir)


def register(registry: Any, context: Any) -> None:
    """Register the ``instances`` reconciler when this host can run guests (root, QEMU, libvirt)."""
    if os.geteuid() != 0:
        log.warning("compute disabled: the agent is not running as root")
        return
    if shutil.which("qemu-system-x86_64") is None or shutil.which("qemu-img") is None:
        log.warning("compute disabled: QEMU is not installed")
        return
    from agent.compute.host import ensure_kvm_device_access
    from agent.compute.setup import choose_accelerator
    from agent.contract.naming import owner_tag

    state_dir = compute_dir(context.state_dir)
    COMPUTE_ROOT.mkdir(parents=True, exist_ok=True)
    ensure_kvm_device_access()
    probe = Path(os.environ.get("CLOUDLET_PROBE_MANIFEST", str(DEFAULT_PROBE_MANIFEST)))
    # The accelerator is a fact of the host, not of one agent: one probe per host boot, shared by every agent.
    decision = choose_accelerator(COMPUTE_ROOT, probe if probe.is_file() else None,
                                  os.environ.get("CLOUDLET_ACCELERATOR") or None)
    log.info("compute: hypervisor %s (%s)", decision.hypervisor, decision.reason)
    accelerator = decision.accelerator
    if accelerator is None:
        log.warning("compute disabled: %s", decision.reason)
        return
    plugger = VpcPlugger(context.name_prefix, tap_alias(owner_tag(state_dir), ""))

    def open_driver() -> ComputeDriver:
        from agent.compute.libvirt_conn import LibvirtConnection
        from agent.compute.libvirt_driver import LibvirtDriver

        state_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(state_dir, 0o755)
        return LibvirtDriver(state_dir, accelerator, plugger=plugger,
                             connection=LibvirtConnection(context.libvirt_uri))

    from agent.storage import service as storage

    client = context.client
    link = ControllerLink(client.host, client.port, client.token, context.host_id)
    instances = InstancesReconciler(open_driver, plugger, state_dir, link)
    registry.add("instances", instances, capabilities=[CAPABILITY_COMPUTE], hypervisor=decision.hypervisor)
    storage.register(registry, context, instances.pool, driver=lambda: instances.driver, lock=instances._lock,
                     pending_roots=instances.pending_roots, volumes_changed=instances.volumes_changed)
