"""A NIC hot-plugged into a running tiny-AMI guest carries traffic (issue 10, item 4), through the AWS API on
a real controller and agent (QEMU under TCG where KVM cannot run guests):

AttachNetworkInterface of an ENI in a second subnet -> the guest brings eth1 up by DHCP and answers on its
address from that subnet's side -> one ENI too many is refused with AWS's AttachmentLimitExceeded -> after a
stop/start the NIC is still there and answers -> DetachNetworkInterface unplugs it from the guest.

Without root, QEMU, libvirt or dnsmasq the module is skipped, unless CLOUDLET_REQUIRE_VM_TESTS=1 (CI).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.prerequisites import missing_for_vms, require
from tests.support import wait_for

require(missing_for_vms(), "VM tests")
pytestmark = [pytest.mark.vm, pytest.mark.root, pytest.mark.slow]

from tests.e2e.eni_lab import answers, cloud_with_agent, console, first_answer, tiny_image  # noqa: E402


@pytest.fixture(scope="module")
def env() -> Iterator[Any]:
    with cloud_with_agent("eni") as made:
        yield made


def interfaces(instance_id: str, *, inactive: bool = False) -> list[str]:
    """The MACs of a domain's NICs, live or as defined."""
    argv = ["virsh", "-c", "qemu:///system", "domiflist", instance_id] + (["--inactive"] if inactive else [])
    listed = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return [line.split()[-1] for line in listed.splitlines()[2:] if line.strip()]


def test_a_hot_plugged_eni_carries_traffic_survives_stop_start_and_unplugs(env: Any) -> None:
    ec2 = env.ec2()
    launched = time.monotonic()
    instance = ec2.run_instances(ImageId=tiny_image(ec2), InstanceType="t3.micro", MinCount=1,
                                 MaxCount=1)["Instances"][0]
    instance_id = instance["InstanceId"]
    wait_for(lambda: env.instance(instance_id)["State"]["Name"] == "running", 90, "running")
    namespace = env.namespace(instance["VpcId"])
    wait_for(lambda: answers(namespace, instance["PrivateIpAddress"]), 90, "eth0 answering")
    print(f"\nRunInstances to eth0 answering: {time.monotonic() - launched:.1f} s")

    subnet = ec2.create_subnet(VpcId=instance["VpcId"], CidrBlock="172.31.240.0/24",
                               AvailabilityZone=instance["Placement"]["AvailabilityZone"])["Subnet"]["SubnetId"]
    eni = ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]
    address = eni["PrivateIpAddress"]
    assert not answers(namespace, address)
    started = time.monotonic()
    attachment = ec2.attach_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"], InstanceId=instance_id,
                                              DeviceIndex=1)["AttachmentId"]
    seconds = first_answer(namespace, address, started, 30, "the hot-plugged eth1")
    print(f"AttachNetworkInterface to the first answer on eth1: {seconds:.2f} s")
    assert eni["MacAddress"] in interfaces(instance_id) and eni["MacAddress"] in interfaces(instance_id, inactive=True)
    wait_for(lambda: f"network: eth1 {address}/24" in console(env, instance_id), 30, "the guest's eth1 line")
    shown = ec2.describe_network_interfaces(NetworkInterfaceIds=[eni["NetworkInterfaceId"]])["NetworkInterfaces"][0]
    assert (shown["Status"], shown["Attachment"]["Status"], shown["Attachment"]["InstanceId"]) == (
        "in-use", "attached", instance_id)

    third = ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]["NetworkInterfaceId"]
    with pytest.raises(Exception) as refused:
        ec2.attach_network_interface(NetworkInterfaceId=third, InstanceId=instance_id, DeviceIndex=2)
    error = refused.value.response["Error"]  # type: ignore[attr-defined]
    assert (error["Code"], error["Message"]) == ("AttachmentLimitExceeded",
                                                 "Interface count 3 exceeds the limit for t3.micro")

    stopping = time.monotonic()
    ec2.stop_instances(InstanceIds=[instance_id])
    wait_for(lambda: env.instance(instance_id)["State"]["Name"] == "stopped", 60, "stopped")
    stopped = time.monotonic()
    ec2.start_instances(InstanceIds=[instance_id])
    wait_for(lambda: env.instance(instance_id)["State"]["Name"] == "running", 90, "running again")
    again = first_answer(namespace, address, stopped, 120, "eth1 after the stop/start")
    print(f"stop {stopped - stopping:.1f} s, start to eth1 answering {again:.1f} s")

    detaching = time.monotonic()
    ec2.detach_network_interface(AttachmentId=attachment, Force=True)
    wait_for(lambda: eni["MacAddress"] not in interfaces(instance_id), 30, "the NIC unplugged from the guest")
    print(f"DetachNetworkInterface to the NIC gone from the guest: {time.monotonic() - detaching:.1f} s")
    assert eni["MacAddress"] not in interfaces(instance_id, inactive=True)
    assert not answers(namespace, address)
    wait_for(lambda: "network: eth1 removed" in console(env, instance_id), 30, "the guest's removal line")
    assert ec2.describe_network_interfaces(NetworkInterfaceIds=[eni["NetworkInterfaceId"]])[
        "NetworkInterfaces"][0]["Status"] == "available"
