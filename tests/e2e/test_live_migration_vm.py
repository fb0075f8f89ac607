"""A running guest keeps a TCP connection open across ``cloudlet host drain`` (issue 15's "Done when").

Two simulated hosts (``tests/e2e/migration_lab.py``): A on the machine's libvirtd, B on a second one, VXLAN
between their underlay namespaces. A tiny-AMI guest on A runs a busybox echo server; a namespace
instance attached to the same subnet on A holds one TCP connection to it, a numbered line every 0.1 s
(``tests/e2e/echo_stream.py``). ``cloudlet host drain A`` must move the guest to B live: the same
connection keeps answering (every line comes back, in order), DescribeInstances shows the same private
address, MAC and interface, the instance now belongs to B, and A's libvirtd has no domain of it left.

A stopped instance moves its disk instead (issue 15's "stopped instances move their disks"): a guest on A
runs its user-data, which the tiny AMI marks done on the root disk for its instance id; stopped, drained,
started on B, it must boot from A's disk: B's console says the user-data already ran, and it did not run again.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.prerequisites import missing_for_vms, missing_tools, require
from tests.support import wait_for

require(missing_for_vms() + missing_tools("unshare", "busybox"), "live migration tests")
pytestmark = [pytest.mark.vm, pytest.mark.root, pytest.mark.slow]

from tests.e2e.eni_lab import console  # noqa: E402
from tests.e2e.migration_lab import EchoStream, MigrationLab  # noqa: E402

ECHO_PORT = 7000
USER_DATA = f"#!/bin/sh\nbusybox nc -ll -p {ECHO_PORT} -e /bin/cat &\n"


@pytest.fixture(scope="module")
def hosts() -> Iterator[MigrationLab]:
    lab_ = MigrationLab.start()
    try:
        yield lab_
    finally:
        lab_.clean_up()


def test_a_running_guest_keeps_its_tcp_connection_across_host_drain(hosts: MigrationLab) -> None:
    a, b = hosts.host_id("a"), hosts.host_id("b")
    subnet, client = hosts.subnet_with_client("10.89.0.0/16", "10.89.1.0/24", "10.89.1.10")
    before = hosts.launch_on_a(subnet, USER_DATA)
    instance_id = before["InstanceId"]
    # (A's libvirtd is the machine's: other runs' domains may be there too)
    assert instance_id in hosts.domains("a") and instance_id not in hosts.domains("b")

    stream = EchoStream(client, before["PrivateIpAddress"], ECHO_PORT)
    try:
        drained = hosts.drain("a")
        print(drained.stdout)
    finally:
        summary = stream.finish()
    print(f"echo stream across the migration: {summary}")
    assert drained.returncode == 0, drained.stdout + drained.stderr
    assert f"{instance_id}: live-migrating to {b}" in drained.stdout
    assert f"{instance_id}: running on {b}" in drained.stdout
    assert summary["error"] == "" and summary["echoed"] > 10, summary

    after = hosts.running(instance_id)
    assert after is not None
    assert after["PrivateIpAddress"] == before["PrivateIpAddress"]
    assert [(n["NetworkInterfaceId"], n["MacAddress"]) for n in after["NetworkInterfaces"]] == \
        [(n["NetworkInterfaceId"], n["MacAddress"]) for n in before["NetworkInterfaces"]]
    assert hosts.cloud.query_state("SELECT host_id FROM ec2_instances WHERE instance_id = ?", (instance_id,)) == [(b,)]
    assert instance_id in hosts.domains("b")
    wait_for(lambda: instance_id not in hosts.domains("a"), 30, "no domain of the guest left on A")
    assert a not in hosts.cloud.query_state("SELECT host_id FROM ec2_network_interfaces WHERE instance_id = ?",
                                            (instance_id,))[0]


def test_a_stopped_instance_moves_its_disk_and_boots_from_it_on_the_other_host(hosts: MigrationLab) -> None:
    b = hosts.host_id("b")
    hosts.drain("a", undo=True)  # the live migration test drained it
    ec2 = hosts.ec2()
    vpc = ec2.create_vpc(CidrBlock="10.91.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.91.1.0/24", AvailabilityZone="home-1a")["Subnet"]["SubnetId"]
    instance_id = hosts.launch_on_a(subnet, "#!/bin/sh\necho cold-move user-data\n")["InstanceId"]
    wait_for(lambda: "user-data: finished" in console(hosts, instance_id), 180, "the user-data to run on A")
    ec2.stop_instances(InstanceIds=[instance_id])
    wait_for(lambda: hosts.described(instance_id)["State"]["Name"] == "stopped", 120, "stopped on A")

    drained = hosts.drain("a")
    print(drained.stdout)
    assert drained.returncode == 0, drained.stdout + drained.stderr
    assert f"{instance_id}: stopped, moving its disk to {b}" in drained.stdout
    assert f"{instance_id}: stopped on {b}" in drained.stdout
    assert hosts.cloud.query_state("SELECT host_id FROM ec2_instances WHERE instance_id = ?", (instance_id,)) == [(b,)]
    assert instance_id in hosts.domains("b") and hosts.described(instance_id)["State"]["Name"] == "stopped"
    wait_for(lambda: instance_id not in hosts.domains("a"), 30, "no domain of the instance left on A")
    wait_for(lambda: not list((hosts.cloud.data_dir / "instance-disks").glob("*.qcow2")), 10,
             "the controller's staged copy of the disk to go")

    ec2.start_instances(InstanceIds=[instance_id])
    wait_for(lambda: hosts.running(instance_id), 180, f"{instance_id} to run on B")
    wait_for(lambda: f"user-data: already ran for {instance_id}" in console(hosts, instance_id), 180,
             "B's boot to find A's user-data mark on the moved disk")
    assert "user-data: running" not in console(hosts, instance_id)

