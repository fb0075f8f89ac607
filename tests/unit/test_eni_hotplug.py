"""NICs hot-plugged on running instances: the pure NIC plan, the domain XML pieces, AWS's attach rules, and
the whole loop AttachNetworkInterface -> instances section -> compute reconciler, on the in-memory driver."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.compute.domain_xml import interface_match_xml, interface_xml, nic_metadata_xml, parse_domain_xml
from agent.compute.memory import InMemoryComputeDriver
from agent.compute.reconcile import Desired, Step, Wanted, nic_changes, plan
from agent.compute.spec import (
    BootMode,
    BootSpec,
    InstanceInfo,
    InstanceSpec,
    Inventory,
    NicSpec,
    PowerState,
    RootDiskSpec,
)
from agent.contract.naming import tap_device_index, tap_name
from tests.unit.harness import InstanceCloud
from tests.unit.test_ec2_instances_agent import Agent

INSTANCE = "i-0123456789abcdef0"
ETH0 = NicSpec(0, "02:00:00:00:00:01", "eni-00000000000000001")
ETH1 = NicSpec(1, "02:00:00:00:00:02", "eni-00000000000000002")
OTHER1 = NicSpec(1, "02:00:00:00:00:03", "eni-00000000000000003")


def spec(*nics: NicSpec) -> InstanceSpec:
    return InstanceSpec(INSTANCE, 1, 256, BootSpec(BootMode.DIRECT_KERNEL, Path("/k")),
                        RootDiskSpec(Path("/base"), 2**30, "vol-00000000000000001"), nics=nics)


def inventory(state: PowerState, *present: NicSpec) -> Inventory:
    return Inventory(domains={INSTANCE: InstanceInfo(INSTANCE, state, 1, 256)},
                     domain_taps={INSTANCE: tuple(tap_name(INSTANCE, n.device_index) for n in present)},
                     disks=frozenset({INSTANCE}), domain_nics={INSTANCE: present})


def nic_steps(actions: list[Any]) -> list[tuple[Step, int, str]]:
    return [(a.step, a.nic.device_index, a.nic.mac) for a in actions if a.nic is not None]


# --- the pure plan -------------------------------------------------------------------------------------------


def test_nic_changes_compare_by_device_index_and_mac() -> None:
    assert nic_changes((ETH0, ETH1), (ETH0,)) == ([], [ETH1])
    assert nic_changes((ETH0,), (ETH0, ETH1)) == ([ETH1], [])
    assert nic_changes((ETH0, OTHER1), (ETH0, ETH1)) == ([ETH1], [OTHER1])
    # the ENI id is not what the guest sees: a NIC the metadata does not name is still the same NIC
    assert nic_changes((ETH0,), (NicSpec(0, ETH0.mac, ""),)) == ([], [])
    # attached again while the guest still held it: back into the definition (the driver adds what is missing)
    assert nic_changes((ETH0, ETH1), (ETH0, ETH1), (ETH0,)) == ([], [ETH1])


@pytest.mark.parametrize("state", [PowerState.RUNNING, PowerState.SHUTOFF])
def test_a_new_nic_is_attached_to_a_running_or_stopped_domain(state: PowerState) -> None:
    want = Wanted.RUNNING if state is PowerState.RUNNING else Wanted.STOPPED
    actions = plan({INSTANCE: Desired(want, spec(ETH0, ETH1))}, inventory(state, ETH0))
    assert nic_steps(actions) == [(Step.ATTACH_NIC, 1, ETH1.mac)]


def test_a_reused_device_index_detaches_before_it_attaches_and_before_the_start() -> None:
    actions = plan({INSTANCE: Desired(Wanted.RUNNING, spec(ETH0, OTHER1))}, inventory(PowerState.SHUTOFF, ETH0, ETH1))
    assert [a.step for a in actions] == [Step.DETACH_NIC, Step.ATTACH_NIC, Step.START]
    assert nic_steps(actions) == [(Step.DETACH_NIC, 1, ETH1.mac), (Step.ATTACH_NIC, 1, OTHER1.mac)]


def test_a_domain_whose_nics_are_unknown_is_left_alone() -> None:
    unknown = Inventory(domains={INSTANCE: InstanceInfo(INSTANCE, PowerState.RUNNING, 1, 256)},
                        domain_taps={INSTANCE: (tap_name(INSTANCE),)}, disks=frozenset({INSTANCE}))
    assert nic_steps(plan({INSTANCE: Desired(Wanted.RUNNING, spec(ETH0, ETH1))}, unknown)) == []


def test_a_nic_the_guest_still_holds_keeps_its_tap_from_the_orphan_sweep() -> None:
    held = inventory(PowerState.RUNNING, ETH0, ETH1)
    held = Inventory(held.domains, held.domain_taps, held.disks, frozenset(),
                     frozenset({tap_name(INSTANCE, 0), tap_name(INSTANCE, 1)}), held.domain_nics)
    actions = plan({INSTANCE: Desired(Wanted.RUNNING, spec(ETH0))}, held)
    assert [a.step for a in actions] == [Step.DETACH_NIC, Step.ADOPT]


# --- domain XML pieces ---------------------------------------------------------------------------------------


def test_hotplug_xml_and_metadata_round_trip() -> None:
    element = interface_xml(INSTANCE, ETH1)
    assert f"dev=\"{tap_name(INSTANCE, 1)}\"" in element and "managed=\"no\"" in element and "virtio" in element
    assert interface_match_xml(ETH1.mac) == f"<interface type='ethernet'><mac address='{ETH1.mac}'/></interface>"
    assert tap_device_index(tap_name(INSTANCE, 7)) == 7 and tap_device_index("eth0") is None
    domain = (f"<domain><name>{INSTANCE}</name><metadata><cloudlet:instance "
              f"xmlns:cloudlet='https://cloudlet.invalid/xmlns/compute/1' id='{INSTANCE}' owner='o' image='ami-1' "
              f"type='t3.micro'><cloudlet:nic index='0' interface='{ETH0.interface_id}' mac='{ETH0.mac}'/>"
              f"</cloudlet:instance></metadata><devices>"
              f"<interface type='ethernet'><mac address='{ETH0.mac}'/><target dev='{tap_name(INSTANCE, 0)}'/>"
              f"<alias name='net0'/></interface>{element}</devices></domain>")
    description = parse_domain_xml(domain)
    assert description.nics_present() == (ETH0, NicSpec(1, ETH1.mac, ""))
    assert description.interface(tap_name(INSTANCE, 0)).alias == "net0"  # type: ignore[union-attr]
    assert "net0" in description.aliases
    marker = nic_metadata_xml(description, INSTANCE, (ETH1, ETH0))
    assert marker.index("index=\"0\"") < marker.index("index=\"1\"")
    assert "owner=\"o\"" in marker and "image=\"ami-1\"" in marker and "type=\"t3.micro\"" in marker


# --- AWS's rules and the whole loop --------------------------------------------------------------------------


@pytest.fixture
def agent(ic: InstanceCloud, tmp_path: Path) -> Any:
    ic.add_host("h-0000000000000000a")
    made = Agent(ic, "h-0000000000000000a", tmp_path / "agent")
    yield made
    made.reconciler.close()


def new_eni(ic: InstanceCloud, subnet_id: str) -> str:
    return ic.call("CreateNetworkInterface", {"SubnetId": subnet_id})["NetworkInterface"]["NetworkInterfaceId"]


def test_hot_attach_detach_limit_and_stop_start(ic: InstanceCloud, agent: Agent) -> None:
    instance = ic.run(Placement={"AvailabilityZone": "home-1a"})[0]
    instance_id, subnet = instance["InstanceId"], instance["SubnetId"]
    agent.sync()
    assert ic.instance(instance_id)["State"]["Name"] == "running"
    driver: InstanceCloud | InMemoryComputeDriver = agent.driver
    assert isinstance(driver, InMemoryComputeDriver)

    second = new_eni(ic, subnet)
    attachment = ic.call("AttachNetworkInterface", {"NetworkInterfaceId": second, "InstanceId": instance_id,
                                                    "DeviceIndex": 1})["AttachmentId"]
    section = agent.sync()
    assert [n["device_index"] for n in section["instances"][0]["nics"]] == [0, 1]
    assert [n.device_index for n in driver.instances[instance_id].spec.nics] == [0, 1]
    assert tap_name(instance_id, 1) in driver.plugged  # hot-plugged into the running guest
    shown = ic.call("DescribeNetworkInterfaces", {"NetworkInterfaceIds": [second]})["NetworkInterfaces"][0]
    assert shown["Attachment"]["Status"] == "attached" and shown["Attachment"]["DeleteOnTermination"] is False
    assert {n["NetworkInterfaceId"] for n in ic.instance(instance_id)["NetworkInterfaces"]} >= {second}

    # t3.micro: MaximumNetworkInterfaces 2, as DescribeInstanceTypes says
    limit = ic.call("DescribeInstanceTypes", {"InstanceTypes": ["t3.micro"]})["InstanceTypes"][0]
    assert limit["NetworkInfo"]["MaximumNetworkInterfaces"] == 2
    third = new_eni(ic, subnet)
    error = ic.refused("AttachNetworkInterface", {"NetworkInterfaceId": third, "InstanceId": instance_id,
                                                  "DeviceIndex": 2}, "AttachmentLimitExceeded")
    assert "Interface count 3 exceeds the limit for t3.micro" in str(error)

    # a guest slow to let go: the detach is asked again on each pass until it does
    driver.hold_nics(instance_id)
    ic.call("DetachNetworkInterface", {"AttachmentId": attachment, "Force": True})
    assert ic.call("DescribeNetworkInterfaces", {"NetworkInterfaceIds": [second]})["NetworkInterfaces"][0][
        "Status"] == "available"
    agent.sync()
    assert agent.reconciler.wants_retry and tap_name(instance_id, 1) in driver.plugged
    # attached again before the guest let go: the same NIC, back in the definition, never unplugged
    again = ic.call("AttachNetworkInterface", {"NetworkInterfaceId": second, "InstanceId": instance_id,
                                               "DeviceIndex": 1})["AttachmentId"]
    agent.sync()
    assert [n.device_index for n in driver.instances[instance_id].spec.nics] == [0, 1]
    assert not driver.instances[instance_id].held and not agent.reconciler.wants_retry
    driver.hold_nics(instance_id, False)
    ic.call("DetachNetworkInterface", {"AttachmentId": again})
    agent.sync()
    assert tap_name(instance_id, 1) not in driver.plugged and not agent.reconciler.wants_retry

    # warm attach: onto the stopped instance, there after the start
    ic.call("StopInstances", {"InstanceIds": [instance_id]})
    agent.sync()
    assert ic.instance(instance_id)["State"]["Name"] == "stopped"
    ic.call("AttachNetworkInterface", {"NetworkInterfaceId": third, "InstanceId": instance_id, "DeviceIndex": 1})
    agent.sync()
    assert [n.mac for n in driver.instances[instance_id].spec.nics][1] == \
        ic.call("DescribeNetworkInterfaces", {"NetworkInterfaceIds": [third]})["NetworkInterfaces"][0]["MacAddress"]
    ic.call("StartInstances", {"InstanceIds": [instance_id]})
    agent.sync()
    agent.sync()
    assert ic.instance(instance_id)["State"]["Name"] == "running"
    assert {tap_name(instance_id, 0), tap_name(instance_id, 1)} <= driver.plugged
    network = {e["network_interface_id"]: e["port"] for e in _eni_rows(ic, instance_id)}
    assert network[third] == {"port": tap_name(instance_id, 1), "kind": "tap", "instance_netns": None,
                              "guest_ifname": "eth0"}

    # DeleteOnTermination, as ModifyNetworkInterfaceAttribute set it, is honoured at termination
    third_attachment = ic.call("DescribeNetworkInterfaces", {"NetworkInterfaceIds": [third]})[
        "NetworkInterfaces"][0]["Attachment"]["AttachmentId"]
    ic.call("ModifyNetworkInterfaceAttribute", {"NetworkInterfaceId": third, "Attachment": {
        "AttachmentId": third_attachment, "DeleteOnTermination": True}})
    ic.call("TerminateInstances", {"InstanceIds": [instance_id]})
    agent.sync()
    assert ic.instance(instance_id)["State"]["Name"] == "terminated"
    remaining = {n["NetworkInterfaceId"] for n in ic.call("DescribeNetworkInterfaces", {})["NetworkInterfaces"]}
    assert third not in remaining and second in remaining


def test_attach_needs_a_running_or_stopped_instance(ic: InstanceCloud, agent: Agent) -> None:
    instance = ic.run(Placement={"AvailabilityZone": "home-1a"})[0]
    agent.sync()
    ic.call("StopInstances", {"InstanceIds": [instance["InstanceId"]]})  # stopping until the host reports
    ic.refused("AttachNetworkInterface", {"NetworkInterfaceId": new_eni(ic, instance["SubnetId"]),
                                          "InstanceId": instance["InstanceId"], "DeviceIndex": 1},
               "IncorrectInstanceState")


def _eni_rows(ic: InstanceCloud, instance_id: str) -> list[Any]:
    from sqlalchemy import select

    from controller.ec2.vpc import state

    eni = state.network_interfaces
    with ic.db.read() as conn:
        return list(conn.execute(select(eni).where(eni.c.instance_id == instance_id)).mappings())
