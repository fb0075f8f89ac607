"""Host drain's controller side against the real state code: the target the scheduler picks, the two hosts'
``instances`` sections while a live migration is in flight, and the move when the target reports the guest;
for stopped instances, their disk's way through the controller over real HTTP (the agent's link and
``agent.compute.disk_move`` on real qcow2 files made with qemu-img)."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from sqlalchemy import select

from agent.compute import disk_move
from agent.compute.link import ControllerLink
from agent.contract.codec import from_json
from agent.contract.hosts import HostRegistration
from agent.contract.instances import DesiredInstance, MigrationTarget, StagedDisk
from agent.contract.reports import VolumesReport
from controller.ec2.instances import disk_moves, migrations
from controller.ec2.instances.desired_instances import host_instances
from controller.ec2.instances.state import instances
from controller.ec2.volumes import reports as volume_reports
from controller.ec2.volumes.state import volumes
from controller.ec2.vpc.state import network_interfaces
from controller.hosts import drain
from controller.hosts import state as hosts_state
from controller.server import HttpServer
from tests.unit.harness import InstanceCloud, agent_link

A, B, C = "h-000000000000000a1", "h-000000000000000b1", "h-000000000000000c1"
ENDPOINT = {"libvirt_uri": "qemu+tls://b/system", "address": "198.18.0.2", "compute_dir": "/srv/b/compute",
            "owner": "bbbbbbbbbbbb"}


@pytest.fixture
def lab(clouds: object) -> InstanceCloud:
    made = clouds.instances()  # type: ignore[attr-defined]
    made.add_host(A)
    made.add_host(C)  # same zone, but takes no live migrations
    hosts_state.register(made.db, HostRegistration(host_id=B, hostname="b", zone="home-1a", vcpus=4,
                                                   memory_mib=8192, disk_gib=100, hypervisor="qemu",
                                                   agent_version="test", migration=ENDPOINT))
    return made


def launch_on_a(lab: InstanceCloud) -> str:
    for other in (B, C):
        hosts_state.set_schedulable(lab.db, other, False)
    instance_id = lab.run(Placement={"AvailabilityZone": "home-1a"})[0]["InstanceId"]
    for other in (B, C):
        hosts_state.set_schedulable(lab.db, other, True)
    lab.report(A, {instance_id: "running"})
    return instance_id


def section(lab: InstanceCloud, host_id: str) -> dict[str, DesiredInstance]:
    with lab.db.read() as conn:
        return {i.instance_id: i for i in host_instances(conn, lab.config, host_id).instances}


def hosts_of(lab: InstanceCloud, instance_id: str) -> tuple[str, set[str]]:
    with lab.db.read() as conn:
        host = conn.execute(select(instances.c.host_id).where(instances.c.instance_id == instance_id)).scalar()
        enis = set(conn.execute(select(network_interfaces.c.host_id)
                                .where(network_interfaces.c.instance_id == instance_id)).scalars())
    return host, enis


def test_a_live_migration_goes_through_both_hosts_documents_and_moves_the_instance_on_arrival(
        lab: InstanceCloud) -> None:
    instance_id = launch_on_a(lab)
    assert hosts_of(lab, instance_id) == (A, {A})
    hosts_state.set_schedulable(lab.db, A, False)
    with lab.db.begin() as conn:
        row = dict(conn.execute(select(instances).where(instances.c.instance_id == instance_id)).mappings().one())
        target = drain.choose_target(conn, lab.config, row, A)
        assert target == B  # C has room too, but registered no migration endpoint
        migrations.request(conn, instance_id, A, target)

    leaving, arriving = section(lab, A)[instance_id], section(lab, B)[instance_id]
    assert leaving.migrate_to == MigrationTarget(host_id=B, **ENDPOINT) and not leaving.incoming
    assert arriving.incoming is True and arriving.migrate_to is None
    assert arriving.nics == leaving.nics and arriving.root_disk == leaving.root_disk

    # the guest leaving A is no disappearance, and B's reports before it arrives change nothing
    lab.report(A, {instance_id: "absent"})
    lab.report(B, {instance_id: "paused"})
    assert lab.instance(instance_id)["State"]["Name"] == "running"
    assert hosts_of(lab, instance_id) == (A, {A})

    lab.report(B, {instance_id: "running"})
    assert hosts_of(lab, instance_id) == (B, {B})
    with lab.db.read() as conn:
        assert migrations.pending(conn, instance_id) is None
    assert instance_id not in section(lab, A)
    assert not section(lab, B)[instance_id].incoming
    assert lab.instance(instance_id)["State"]["Name"] == "running"


def test_no_target_says_what_the_zone_lacks(lab: InstanceCloud) -> None:
    instance_id = launch_on_a(lab)
    hosts_state.set_schedulable(lab.db, B, False)
    with lab.db.begin() as conn:
        row = dict(conn.execute(select(instances).where(instances.c.instance_id == instance_id)).mappings().one())
        with pytest.raises(drain.NoTarget, match="no host in home-1a has room for it"):
            drain.choose_target(conn, lab.config, row, A)
    hosts_state.register(lab.db, HostRegistration(host_id=B, hostname="b", zone="home-1a", vcpus=4, memory_mib=8192,
                                                  disk_gib=100, hypervisor="qemu", agent_version="test"))
    with lab.db.begin() as conn, pytest.raises(drain.NoTarget, match="takes live migrations .*--migration-uri"):
        drain.choose_target(conn, lab.config, row, A)


# --- stopped instances: their disk moves through the controller ------------------------------------------------


@pytest.fixture
def ic(lab: InstanceCloud) -> InstanceCloud:
    """The cloud the ``server`` fixture serves: this module's three hosts."""
    return lab


def link(lab: InstanceCloud, server: HttpServer, host_id: str) -> ControllerLink:
    return agent_link(lab, server.port, host_id)


def stopped_on_a(lab: InstanceCloud) -> str:
    instance_id = launch_on_a(lab)
    lab.call("StopInstances", {"InstanceIds": [instance_id]})
    lab.report(A, {instance_id: "shutoff"})
    assert lab.instance(instance_id)["State"]["Name"] == "stopped"
    return instance_id


def qcow2(*args: str) -> str:
    return subprocess.run(["qemu-img", *args], check=True, capture_output=True, text=True).stdout


def overlay_with_data(tmp_path: Path) -> tuple[Path, Path]:
    """A real base image and an overlay on it holding a written pattern (what the guest wrote before its stop)."""
    base = tmp_path / "a-cache" / "base.qcow2"
    base.parent.mkdir()
    qcow2("create", "-q", "-f", "qcow2", str(base), "64M")
    overlay = tmp_path / "a-instances" / "root.qcow2"
    overlay.parent.mkdir()
    qcow2("create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(base), str(overlay), "64M")
    subprocess.run(["qemu-io", "-c", "write -P 0xab 1M 64k", str(overlay)], check=True, capture_output=True)
    return base, overlay


def test_a_stopped_instances_disk_moves_through_the_controller_to_a_host_without_a_migration_endpoint(
        lab: InstanceCloud, server: HttpServer, tmp_path: Path) -> None:
    instance_id = stopped_on_a(lab)
    hosts_state.set_schedulable(lab.db, A, False)
    hosts_state.set_schedulable(lab.db, B, False)  # C registered no migration endpoint: a cold move needs none
    with lab.db.begin() as conn:
        row = dict(conn.execute(select(instances).where(instances.c.instance_id == instance_id)).mappings().one())
        assert drain.choose_target(conn, lab.config, row, A, live=False) == C
        disk_moves.request(conn, instance_id, A, C)
    assert section(lab, A)[instance_id].send_disk is True and instance_id not in section(lab, C)

    base, overlay = overlay_with_data(tmp_path)
    with pytest.raises(OSError, match="HTTP 409"):
        disk_move.send(link(lab, server, C), instance_id, overlay)  # only the host it leaves sends it
    with pytest.raises(OSError, match=r"HTTP 400 .*sha256"):
        link(lab, server, A).upload_instance_disk(instance_id, overlay, "0" * 64)
    assert hosts_of(lab, instance_id) == (A, {None})
    size = disk_move.send(link(lab, server, A), instance_id, overlay)
    assert size == overlay.stat().st_size
    assert hosts_of(lab, instance_id) == (C, {None})
    assert instance_id not in section(lab, A)  # A's agent drops its domain and files
    moved = section(lab, C)[instance_id]
    assert moved.state == "stopped" and moved.send_disk is False
    assert moved.disk_from == StagedDisk(disk_move.file_sha256(overlay), size, A)

    with pytest.raises(OSError, match="HTTP 404"):
        link(lab, server, B).download_instance_disk(instance_id, tmp_path / "not-for-b")
    c_base = tmp_path / "c-cache" / "base.qcow2"
    c_base.parent.mkdir()
    shutil.copy(base, c_base)
    root = tmp_path / "c-instances" / instance_id / "root.qcow2"
    with pytest.raises(OSError, match="arrived with sha256"):
        disk_move.fetch(link(lab, server, C), instance_id, StagedDisk("0" * 64, size, A), c_base, root)
    assert list(root.parent.iterdir()) == []  # nothing a spawn would take for the instance's disk
    disk_move.fetch(link(lab, server, C), instance_id, moved.disk_from, c_base, root)
    assert json.loads(qcow2("info", "--output=json", str(root)))["backing-filename"] == str(c_base)
    base.unlink()  # C reads its own base: the pattern comes from the moved overlay
    read = subprocess.run(["qemu-io", "-c", "read -P 0xab 1M 64k", str(root)], capture_output=True, text=True)
    assert read.returncode == 0 and "Pattern verification failed" not in read.stdout, read.stdout

    staged = disk_moves.staged_path(lab.config, instance_id)
    assert staged.is_file()
    link(lab, server, C).report({"complete": True, "instances": [{"instance_id": instance_id, "power": "shutoff"}]})
    assert not staged.exists() and section(lab, C)[instance_id].disk_from is None
    assert lab.instance(instance_id)["State"]["Name"] == "stopped"


def test_a_start_before_the_upload_gives_the_move_up(lab: InstanceCloud, server: HttpServer, tmp_path: Path) -> None:
    instance_id = stopped_on_a(lab)
    with lab.db.begin() as conn:
        disk_moves.request(conn, instance_id, A, B)
    lab.call("StartInstances", {"InstanceIds": [instance_id]})
    _base, overlay = overlay_with_data(tmp_path)
    with pytest.raises(OSError, match=r"HTTP 409 .*no longer stopped"):
        disk_move.send(link(lab, server, A), instance_id, overlay)
    assert hosts_of(lab, instance_id) == (A, {A}) and not section(lab, A)[instance_id].send_disk
    assert not disk_moves.staged_path(lab.config, instance_id).exists()


def test_drain_moves_a_stopped_instance_and_names_one_with_an_ebs_volume(
        lab: InstanceCloud, server: HttpServer, tmp_path: Path) -> None:
    moving, keeping = stopped_on_a(lab), stopped_on_a(lab)
    volume = lab.call("CreateVolume", {"AvailabilityZone": "home-1a", "Size": 1})["VolumeId"]
    with lab.db.read() as conn:
        pool = conn.execute(select(volumes.c.host_id).where(volumes.c.volume_id == volume)).scalar()
    volume_reports.apply_storage_report(lab.cloud, pool, from_json(VolumesReport, {
        "complete": False, "volumes": {volume: {"state": "available", "size_bytes": 1 << 30}}}))
    lab.call("AttachVolume", {"VolumeId": volume, "InstanceId": keeping, "Device": "/dev/sdf"})
    base, overlay = overlay_with_data(tmp_path)
    done = threading.Event()

    def agents() -> None:
        """A's and the target's compute agents, as far as a cold move goes: send, fetch, report."""
        while not done.wait(0.1):
            if section(lab, A).get(moving, None) is not None and section(lab, A)[moving].send_disk:
                disk_move.send(link(lab, server, A), moving, overlay)
            for host in (B, C):
                arriving = section(lab, host).get(moving)
                if arriving is not None and arriving.disk_from is not None:
                    root = tmp_path / host / "root.qcow2"
                    disk_move.fetch(link(lab, server, host), moving, arriving.disk_from, base, root)
                    link(lab, server, host).report({"complete": True, "instances": [
                        {"instance_id": moving, "power": "shutoff"}]})

    said: list[str] = []
    thread = threading.Thread(target=agents, daemon=True)
    thread.start()
    try:
        hosts_state.set_schedulable(lab.db, A, False)
        failed = drain.evacuate(lab.db, lab.config, A, said.append, timeout=20)
    finally:
        done.set()
        thread.join(5)
    target, _ = hosts_of(lab, moving)
    assert target in (B, C) and failed == [keeping], said
    assert f"==> {moving}: stopped, moving its disk to {target}" in said
    assert any(line.startswith(f"    {moving}: stopped on {target} (") for line in said), said
    assert f"    {keeping}: stopped, stays: EBS volume {volume} is attached and its file stays on {A}: detach it " \
           "and drain again, or terminate the instance" in said
    assert hosts_of(lab, keeping) == (A, {None})
