"""ENI hot-plug: AttachNetworkInterface to the first packet a running guest answers on the new NIC, against
the same guest's RunInstances to the first packet answered on eth0 (the limit: everything a NIC needs, and
a whole boot besides, done by the same controller, agent, dataplane and DHCP server).

A real controller and agent (``tests/e2e/eni_lab.py``) run tiny-AMI instances (t3.micro) in the default VPC;
each run launches one, times RunInstances -> eth0 answers, attaches an ENI of a second subnet and times
AttachNetworkInterface -> the ENI's address answers, then detaches it and terminates the instance. "Answers"
is a TCP SYN-ACK from the guest's port 22, asked every 20 ms from the VPC's router namespace, where the only
way to each subnet is its own bridge. The hot-plug path is: the API write, the agent's long-poll wake-up,
a tap in the root namespace, libvirt's attachDeviceFlags (LIVE|CONFIG), the tap moved onto the subnet's
bridge, the guest's PCI hot-plug and uevent, udhcpc against the VPC's dnsmasq. Prints each run, medians and
the ratio hot-plug / boot (lower is better; under 1 means a NIC arrives faster than a fresh instance would).

Needs root, libvirtd (started if absent), QEMU and dnsmasq; skips with a message otherwise.

    .venv/bin/python bench/bench_eni_hotplug.py [--runs 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import median, report  # noqa: E402
from guest_lab import missing_prerequisites  # noqa: E402


def one_run(env: object, subnet: str, run: int) -> tuple[float, float]:
    """(RunInstances -> eth0 answers, AttachNetworkInterface -> eth1 answers) in seconds, for one new instance."""
    from tests.e2e.eni_lab import first_answer, tiny_image
    from tests.support import wait_for

    ec2 = env.ec2()  # type: ignore[attr-defined]
    launched = time.monotonic()
    instance = ec2.run_instances(ImageId=tiny_image(ec2), InstanceType="t3.micro", MinCount=1,
                                 MaxCount=1)["Instances"][0]
    instance_id = instance["InstanceId"]
    namespace = env.namespace(instance["VpcId"])  # type: ignore[attr-defined]
    try:
        boot = first_answer(namespace, instance["PrivateIpAddress"], launched, 180, "eth0 after RunInstances")
        eni = ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]
        attaching = time.monotonic()
        attachment = ec2.attach_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"],
                                                  InstanceId=instance_id, DeviceIndex=1)["AttachmentId"]
        plugged = first_answer(namespace, eni["PrivateIpAddress"], attaching, 60, "eth1 after the attach")
        print(f"  run {run}: RunInstances -> eth0 {boot:5.2f} s   AttachNetworkInterface -> eth1 {plugged:5.2f} s",
              flush=True)
        ec2.detach_network_interface(AttachmentId=attachment)
        wait_for(lambda: ec2.describe_network_interfaces(NetworkInterfaceIds=[eni["NetworkInterfaceId"]])[
            "NetworkInterfaces"][0]["Status"] == "available", 30, "the ENI available")
        ec2.delete_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"])
    finally:
        ec2.terminate_instances(InstanceIds=[instance_id])
        wait_for(lambda: env.instance(instance_id)["State"]["Name"] == "terminated",  # type: ignore[attr-defined]
                 120, "terminated")
    return boot, plugged


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="instances launched, one hot-plug each (default 3)")
    args = parser.parse_args()
    missing = missing_prerequisites()
    if missing:
        print(f"bench_eni_hotplug: skipped, needs {', '.join(missing)}")
        return 0
    from tests.e2e.eni_lab import cloud_with_agent

    with cloud_with_agent("eni-bench") as env:
        print(f"hypervisor: {(env.host() or {}).get('hypervisor')}", flush=True)
        ec2 = env.ec2()
        vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="172.31.240.0/24",
                                   AvailabilityZone="home-1a")["Subnet"]["SubnetId"]
        runs = [one_run(env, subnet, run) for run in range(1, args.runs + 1)]
    boot, plugged = median([b for b, _ in runs]), median([p for _, p in runs])
    print(f"\nENI hot-plug, medians of {len(runs)} runs (tiny AMI, t3.micro):")
    print(f"  AttachNetworkInterface -> first answer on eth1   {plugged:6.2f} s")
    print(f"  RunInstances -> first answer on eth0 (the limit)  {boot:6.2f} s")
    print(f"  ratio hot-plug / boot                             {plugged / boot:6.2f}x")
    report("AttachNetworkInterface to first answer on the new NIC", plugged, "s")
    report("AttachNetworkInterface to first answer on the new NIC over RunInstances to first answer on eth0",
           plugged / boot, "x", hotplug_s=plugged, boot_s=boot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
