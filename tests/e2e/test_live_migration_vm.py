"""A running guest keeps a TCP connection open across ``cloudlet host drain`` (issue 15's "Done when").

Two simulated hosts (``tests/e2e/hosts_lab.py``): A on the machine's libvirtd, B on a second one, VXLAN
between their underlay namespaces. A tiny-AMI guest on A runs a busybox echo server; a namespace
instance attached to the same subnet on A holds one TCP connection to it, a numbered line every 0.1 s
(``tests/e2e/echo_stream.py``). ``cloudlet host drain A`` must move the guest to B live: the same
connection keeps answering (every line comes back, in order), DescribeInstances shows the same private
address, MAC and interface, the instance now belongs to B, and A's libvirtd has no domain of it left.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.agent import dataplane_lab as lab
from tests.e2e.dataplane_helpers import addresses_in, wait_until
from tests.prerequisites import missing_for_vms, missing_tools, require
from tests.support import REPO, wait_for

require(missing_for_vms() + missing_tools("unshare", "busybox"), "live migration tests")
pytestmark = [pytest.mark.vm, pytest.mark.root, pytest.mark.slow]

from tests.e2e.hosts_lab import MigrationLab  # noqa: E402

ECHO_PORT = 7000
CLIENT_ADDRESS = "10.89.1.10"
USER_DATA = f"#!/bin/sh\nbusybox nc -ll -p {ECHO_PORT} -e /bin/cat &\n"


@pytest.fixture(scope="module")
def hosts() -> Iterator[MigrationLab]:
    lab_ = MigrationLab.start()
    try:
        yield lab_
    finally:
        lab_.clean_up()


def test_a_running_guest_keeps_its_tcp_connection_across_host_drain(hosts: MigrationLab) -> None:
    ec2 = hosts.ec2()
    a, b = hosts.host_id("a"), hosts.host_id("b")
    vpc = ec2.create_vpc(CidrBlock="10.89.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.89.1.0/24", AvailabilityZone="home-1a")["Subnet"]["SubnetId"]
    # B takes nothing new for a moment, so that the guest lands on A.
    assert hosts.cli("host", "--data-dir", str(hosts.cloud.data_dir), "drain", b).returncode == 0
    image = ec2.describe_images(Owners=["amazon"], Filters=[{"Name": "name", "Values": ["cloudlet-tiny-*"]}])[
        "Images"][0]["ImageId"]
    instance_id = ec2.run_instances(ImageId=image, InstanceType="t3.micro", MinCount=1, MaxCount=1,
                                    SubnetId=subnet, UserData=USER_DATA)["Instances"][0]["InstanceId"]
    assert hosts.cli("host", "--data-dir", str(hosts.cloud.data_dir), "undrain", b).returncode == 0
    before = wait_for(lambda: _running(ec2, instance_id), 180, "the guest to run on A")
    assert hosts.domains("a") == [instance_id] and hosts.domains("b") == []

    # The client: a namespace instance on A in the same subnet (its ENI keeps the VPC on A after the move).
    client_eni = ec2.create_network_interface(SubnetId=subnet, PrivateIpAddress=CLIENT_ADDRESS)[
        "NetworkInterface"]["NetworkInterfaceId"]
    client = lab.create_instance(f"cl-{hosts.run}-client")
    hosts.namespaces["client"] = client
    attached = hosts.cli("netns", "--data-dir", str(hosts.cloud.data_dir), "attach", client_eni, client.netns,
                         "--host", a)
    assert attached.returncode == 0, attached.stderr
    wait_until(lambda: f"{CLIENT_ADDRESS}/24" in addresses_in(client.netns), 20, "the client's address")
    stream = subprocess.Popen(["ip", "netns", "exec", client.netns, sys.executable, "-m", "tests.e2e.echo_stream",
                               before["PrivateIpAddress"], str(ECHO_PORT)], cwd=REPO, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert stream.stdout is not None and stream.stdout.readline().strip() == "connected"

        drained = hosts.cli("host", "--data-dir", str(hosts.cloud.data_dir), "drain", a)
        print(drained.stdout)
        assert drained.returncode == 0, drained.stdout + drained.stderr
        assert f"{instance_id}: live-migrating to {b}" in drained.stdout
        assert f"{instance_id}: running on {b}" in drained.stdout
    finally:
        summary_line, _ = stream.communicate("", timeout=120)
    summary = json.loads(summary_line.strip().splitlines()[-1])
    print(f"echo stream across the migration: {summary}")
    assert summary["error"] == "" and summary["echoed"] > 10, summary

    after = _running(ec2, instance_id)
    assert after is not None
    assert after["PrivateIpAddress"] == before["PrivateIpAddress"]
    assert [(n["NetworkInterfaceId"], n["MacAddress"]) for n in after["NetworkInterfaces"]] == \
        [(n["NetworkInterfaceId"], n["MacAddress"]) for n in before["NetworkInterfaces"]]
    assert hosts.cloud.query_state("SELECT host_id FROM ec2_instances WHERE instance_id = ?", (instance_id,)) == [(b,)]
    assert hosts.domains("b") == [instance_id]
    wait_for(lambda: instance_id not in hosts.domains("a"), 30, "no domain of the guest left on A")


def _running(ec2: object, instance_id: str) -> dict | None:
    found = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]  # type: ignore[attr-defined]
    return found if found["State"]["Name"] == "running" else None
