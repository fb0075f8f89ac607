"""A running guest keeps a TCP connection open across ``cloudlet host drain`` (issue 15's "Done when").

Two simulated hosts (``tests/e2e/migration_lab.py``): A on the machine's libvirtd, B on a second one, VXLAN
between their underlay namespaces. A tiny-AMI guest on A runs a busybox echo server; a namespace
instance attached to the same subnet on A holds one TCP connection to it, a numbered line every 0.1 s
(``tests/e2e/echo_stream.py``). ``cloudlet host drain A`` must move the guest to B live: the same
connection keeps answering (every line comes back, in order), DescribeInstances shows the same private
address, MAC and interface, the instance now belongs to B, and A's libvirtd has no domain of it left.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.prerequisites import missing_for_vms, missing_tools, require
from tests.support import wait_for

require(missing_for_vms() + missing_tools("unshare", "busybox"), "live migration tests")
pytestmark = [pytest.mark.vm, pytest.mark.root, pytest.mark.slow]

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
