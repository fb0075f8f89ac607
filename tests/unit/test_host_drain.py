"""Host drain's controller side against the real state code: the target the scheduler picks, the two hosts'
``instances`` sections while a live migration is in flight, and the move when the target reports the guest."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from agent.contract.hosts import HostRegistration
from agent.contract.instances import DesiredInstance, MigrationTarget
from controller.ec2.instances import migrations
from controller.ec2.instances.desired_instances import host_instances
from controller.ec2.instances.state import instances
from controller.ec2.vpc.state import network_interfaces
from controller.hosts import drain
from controller.hosts import state as hosts_state
from tests.unit.harness import InstanceCloud

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
