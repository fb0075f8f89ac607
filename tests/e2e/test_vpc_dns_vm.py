"""Names inside a real guest (issue 10, item 2): a tiny-AMI instance in the default VPC asks the resolver DHCP
gave it, with busybox's nslookup, for its own private name and address, its public name, the Cloudlet API's
names and an outside name, and prints the answers on its console (read with GetConsoleOutput). Lab mode:
the outside name is NXDOMAIN.

Without root, QEMU, libvirt or dnsmasq the module is skipped, unless CLOUDLET_REQUIRE_VM_TESTS=1 (CI).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.prerequisites import missing_for_vms, require
from tests.support import wait_for

require(missing_for_vms(), "VM tests")
pytestmark = [pytest.mark.vm, pytest.mark.root, pytest.mark.slow]

from tests.e2e.eni_lab import cloud_with_agent, console, tiny_image  # noqa: E402

USER_DATA = """#!/bin/sh
private=$(/usr/lib/cloudlet/metadata get meta-data/local-ipv4)
public=$(/usr/lib/cloudlet/metadata get meta-data/public-ipv4)
ask() { echo "dns-$1: $(nslookup "$2" 2>&1 | tr '\\n\\t' '  ')" > /dev/console; }
ask self "$(hostname)"
ask reverse "$private"
ask public "ec2-$(echo "$public" | tr . -).home-1.compute.amazonaws.com"
ask sts sts.home-1.amazonaws.com
ask bucket my-bucket.s3.home-1.amazonaws.com
ask outside example.com
echo "dns-done" > /dev/console
"""


@pytest.fixture(scope="module")
def env() -> Iterator[Any]:
    with cloud_with_agent("dns") as made:
        yield made


def test_a_guest_resolves_its_names_and_the_api_and_nothing_outside(env: Any) -> None:
    ec2 = env.ec2()
    instance = ec2.run_instances(ImageId=tiny_image(ec2), InstanceType="t3.micro", MinCount=1, MaxCount=1,
                                 UserData=USER_DATA)["Instances"][0]
    instance_id = instance["InstanceId"]
    text = wait_for(lambda: (out := console(env, instance_id)) and "dns-done" in out and out, 180,
                    "the guest's DNS answers on its console", interval=1.0)
    found = dict(re.findall(r"^dns-(\w+): (.*)$", text, re.MULTILINE))
    shown = env.instance(instance_id)
    private, domain = shown["PrivateIpAddress"], "home-1.compute.internal"
    assert private in found["self"], found["self"]
    assert f"name = {shown['PrivateDnsName']}" in found["reverse"] and shown["PrivateDnsName"].endswith(domain)
    assert shown["PublicDnsName"] and f"Address: {private}" in found["public"], found["public"]
    assert "Address: 203.0.113.2" in found["sts"] and "Address: 203.0.113.2" in found["bucket"], found
    assert "NXDOMAIN" in found["outside"], found["outside"]
    ec2.terminate_instances(InstanceIds=[instance_id])
