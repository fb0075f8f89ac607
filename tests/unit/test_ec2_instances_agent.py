"""The compute agent's reconciler against the real controller code and the in-memory driver (no VMs).

The controller's ``instances`` section goes to ``InstancesReconciler`` as the agent would hand it over, and
its reports go straight to ``apply_report``: the whole loop of RunInstances -> spawn -> running -> stop ->
type change -> start -> reboot -> terminate, plus guest shutdowns seen by the watcher, an agent restart
adopting what runs, instance store volumes and CreateImage on a driver that cannot capture.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from agent.compute.memory import InMemoryComputeDriver
from agent.compute.service import InstancesReconciler, ephemeral_volume_id
from agent.compute.spec import Accelerator, PowerState
from agent.compute.vpc_plug import VpcPlugger
from agent.contract.codec import from_json, to_json
from agent.contract.reports import InstancesReport
from controller.ec2.instances.desired_instances import host_instances
from controller.hosts.instance_reports import observations
from tests.unit.harness import InstanceCloud


class DirectLink:
    """The agent RPC, short-circuited: reports go to the controller code of the same process."""

    def __init__(self, cloud: InstanceCloud, host_id: str) -> None:
        self.cloud, self.host_id = cloud, host_id
        self.reports: list[dict[str, Any]] = []

    def report(self, report: dict[str, Any]) -> dict[str, Any]:
        from controller.ec2.instances import actions, images

        self.reports.append(report)
        parsed = from_json(InstancesReport, report)
        changed = actions.apply_report(self.cloud.cloud, self.host_id, observations(parsed), complete=parsed.complete,
                                       consoles=parsed.console_bytes(), reboots=parsed.reboots)
        for image_id, reason in parsed.capture_failures.items():
            images.fail_capture(self.cloud.db, image_id, reason)
        return {"changed": changed}


class Agent:
    def __init__(self, cloud: InstanceCloud, host_id: str, state_dir: Path,
                 driver: InMemoryComputeDriver | None = None) -> None:
        self.cloud, self.host_id = cloud, host_id
        self.driver = driver or InMemoryComputeDriver(Accelerator.TCG)
        self.link = DirectLink(cloud, host_id)
        self.reconciler = InstancesReconciler(lambda: self.driver, VpcPlugger("cl-test-", "cloudlet:test:"),
                                              state_dir, self.link, watch_interval=3600)  # type: ignore[arg-type]

    def sync(self) -> dict[str, Any]:
        with self.cloud.db.read() as conn:
            section = to_json(host_instances(conn, self.cloud.cloud.config, self.host_id))
        self.reconciler.reconcile(section)
        return section

    def watch(self) -> None:
        """One pass of the watcher thread."""
        with self.reconciler._lock:
            self.reconciler._report(force=False)


@pytest.fixture
def agent(ic: InstanceCloud, tmp_path: Path) -> Any:
    made = Agent(ic, "h-0000000000000000a", tmp_path / "agent")
    yield made
    made.reconciler.close()


def launch(ic: InstanceCloud, **params: Any) -> str:
    return ic.run(Placement={"AvailabilityZone": "home-1a"}, **params)[0]["InstanceId"]


def state_of(ic: InstanceCloud, instance_id: str) -> str:
    return ic.instance(instance_id)["State"]["Name"]


def test_the_whole_life_of_an_instance_through_the_agent(ic: InstanceCloud, agent: Agent) -> None:
    instance_id = launch(ic, UserData=base64.b64encode(b"#!/bin/sh\n").decode())
    agent.sync()
    info = agent.driver.get_info(instance_id)
    assert (info.state, info.vcpus, info.memory_mib) == (PowerState.RUNNING, 2, 256)
    assert state_of(ic, instance_id) == "running"
    console = ic.call("GetConsoleOutput", {"InstanceId": instance_id})
    assert base64.b64decode(console["Output"]) == f"boot 1 of {instance_id}\n".encode()
    ic.call("StopInstances", {"InstanceIds": [instance_id]})
    agent.sync()
    assert agent.driver.get_info(instance_id).state is PowerState.SHUTOFF
    assert state_of(ic, instance_id) == "stopped"
    ic.call("ModifyInstanceAttribute", {"InstanceId": instance_id, "InstanceType": {"Value": "t3.xlarge"}})
    agent.sync()
    ic.call("StartInstances", {"InstanceIds": [instance_id]})
    agent.sync()
    info = agent.driver.get_info(instance_id)
    assert (info.state, info.vcpus, info.memory_mib) == (PowerState.RUNNING, 4, 4096)
    assert state_of(ic, instance_id) == "running"
    ic.call("RebootInstances", {"InstanceIds": [instance_id]})
    agent.sync()
    agent.sync()  # a second pass does not reboot again
    assert agent.driver.instances[instance_id].boots == 3
    ic.call("TerminateInstances", {"InstanceIds": [instance_id]})
    agent.sync()
    assert instance_id not in agent.driver.list_instances() and not agent.driver.plugged
    assert state_of(ic, instance_id) == "terminated"
    assert agent.sync()["instances"] == []


def test_the_watcher_reports_a_guest_shutdown_and_new_console_output(ic: InstanceCloud,
                                                                     agent: Agent) -> None:
    instance_id = launch(ic)
    agent.sync()
    reports = len(agent.link.reports)
    agent.watch()
    assert len(agent.link.reports) == reports  # nothing new, nothing sent
    agent.driver.instances[instance_id].console += b"login: "
    agent.watch()
    assert base64.b64decode(ic.call("GetConsoleOutput", {"InstanceId": instance_id})["Output"]).endswith(b"login: ")
    agent.driver.guest_poweroff(instance_id)
    agent.watch()
    assert state_of(ic, instance_id) == "stopped"
    agent.sync()
    assert agent.driver.get_info(instance_id).state is PowerState.SHUTOFF  # not restarted behind EC2's back


def test_a_guest_shutdown_reported_from_before_a_start_request_leaves_the_instance_pending(ic: InstanceCloud,
                                                                                            agent: Agent) -> None:
    """A pass that began before StartInstances reports the old guest-stopped domain once the instance is
    pending: the report says which start it had carried out, so the controller waits for the new one."""
    instance_id = launch(ic)
    agent.sync()
    agent.driver.guest_poweroff(instance_id)
    agent.watch()
    assert state_of(ic, instance_id) == "stopped"
    ic.call("StartInstances", {"InstanceIds": [instance_id]})
    with agent.reconciler._lock:
        agent.reconciler._report(force=True)  # the end of the older pass
    assert state_of(ic, instance_id) == "pending"
    agent.sync()
    assert state_of(ic, instance_id) == "running"


def test_a_restarted_agent_adopts_running_instances_and_restarts_lost_ones(ic: InstanceCloud, agent: Agent,
                                                                           tmp_path: Path) -> None:
    first, second = launch(ic), launch(ic)
    agent.sync()
    agent.reconciler.close()
    agent.driver.guest_poweroff(second)  # it looked like a crash to nobody: the agent was down
    agent.driver.instances[second].stopped_by_guest = False
    again = Agent(ic, agent.host_id, tmp_path / "agent", driver=agent.driver)
    try:
        again.sync()
        assert agent.driver.instances[first].boots == 1  # adopted, not rebooted
        assert agent.driver.get_info(second).state is PowerState.RUNNING
        assert {state_of(ic, first), state_of(ic, second)} == {"running"}
    finally:
        again.reconciler.close()


def test_instance_store_is_blank_at_each_start_and_gone_at_stop(ic: InstanceCloud, agent: Agent,
                                                                tmp_path: Path) -> None:
    instance_id = launch(ic, InstanceType="m5d.large")
    agent.sync()
    volume = agent.driver.instances[instance_id].spec.volumes[0]
    assert volume.volume_id == ephemeral_volume_id(instance_id, "ephemeral0")
    assert volume.path.is_file()
    volume.path.write_bytes(b"data written by the guest")
    ic.call("StopInstances", {"InstanceIds": [instance_id]})
    agent.sync()
    assert not volume.path.exists()
    ic.call("StartInstances", {"InstanceIds": [instance_id]})
    agent.sync()
    assert volume.path.read_bytes()[:4] == b"QFI\xfb"
    ic.call("TerminateInstances", {"InstanceIds": [instance_id]})
    agent.sync()
    assert not volume.path.parent.exists()


def test_root_volume_kept_when_delete_on_termination_is_false(ic: InstanceCloud, agent: Agent) -> None:
    instance_id = launch(ic, BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"DeleteOnTermination": False}}])
    agent.sync()
    ic.call("TerminateInstances", {"InstanceIds": [instance_id]})
    agent.sync()
    assert state_of(ic, instance_id) == "terminated"
    kept = ic.call("DescribeVolumes", {"Filters": [{"Name": "snapshot-id", "Values": ["snap-*"]}]})["Volumes"]
    assert [(v["State"], v["Attachments"]) for v in kept] == [("available", [])]  # an ordinary volume now


def test_an_agent_without_instances_opens_no_driver_and_leaves_nothing(ic: InstanceCloud,
                                                                      tmp_path: Path) -> None:
    opened: list[InMemoryComputeDriver] = []

    def open_driver() -> InMemoryComputeDriver:
        opened.append(InMemoryComputeDriver(Accelerator.TCG))
        return opened[-1]

    state_dir = tmp_path / "idle-agent"
    reconciler = InstancesReconciler(open_driver, VpcPlugger("cl-test-", "cloudlet:test:"), state_dir,
                                     DirectLink(ic, "h-0000000000000000b"), watch_interval=3600)  # type: ignore[arg-type]
    try:
        reconciler.reconcile({"instances": [], "images": {}})
        assert opened == [] and not state_dir.exists()
        ic.run(Placement={"AvailabilityZone": "home-1b"})
        with ic.db.read() as conn:
            reconciler.reconcile(to_json(host_instances(conn, ic.cloud.config, "h-0000000000000000b")))
        assert len(opened) == 1 and opened[0].list_instances()
    finally:
        reconciler.close()


def test_a_driver_that_cannot_capture_fails_the_image(ic: InstanceCloud, agent: Agent) -> None:
    instance_id = launch(ic)
    agent.sync()
    image_id = ic.call("CreateImage", {"InstanceId": instance_id, "Name": "snap-of-it"})["ImageId"]
    assert ic.call("DescribeImages", {"ImageIds": [image_id]})["Images"][0]["State"] == "pending"
    agent.sync()
    agent.reconciler._captures[image_id].join(timeout=10)
    agent.watch()
    image = ic.call("DescribeImages", {"ImageIds": [image_id]})["Images"][0]
    assert image["State"] == "failed" and "cannot say where the root volume" in image["StateReason"]["Message"]
