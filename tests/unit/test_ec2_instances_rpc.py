"""The compute agent's RPC over real HTTP: reports, AMI downloads (hosts without the controller's disk), uploads.

The controller's WSGI app runs on a loopback port in this process; the agent side is ``ControllerLink``, the
client the compute plug-in uses.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import select

from agent.compute.service import ControllerLink
from agent.contract.version import ContractError
from controller.ec2.instances import image_store, state
from controller.server import HttpServer
from tests.unit.harness import InstanceCloud, agent_link, fake_qcow2


def link(ic: InstanceCloud, server: HttpServer, host_id: str, token: str | None = None) -> ControllerLink:
    return agent_link(ic, server.port, host_id, token)


def host_of(ic: InstanceCloud, instance_id: str) -> str:
    table = state.instances
    with ic.db.read() as conn:
        return conn.execute(select(table.c.host_id).where(table.c.instance_id == instance_id)).scalar_one()


def test_reports_move_instances_and_bad_ones_are_refused(ic: InstanceCloud, server: HttpServer) -> None:
    instance_id = ic.run()[0]["InstanceId"]
    host = host_of(ic, instance_id)
    answer = link(ic, server, host).report({"complete": True, "instances": [
        {"instance_id": instance_id, "power": "running"}], "consoles": {}, "reboots": {}, "capture_failures": {}})
    assert answer == {"changed": [instance_id]}
    assert ic.instance(instance_id)["State"]["Name"] == "running"
    malformed = {"instances": [{"power": "running"}]}
    with pytest.raises(ContractError, match=r"instances\[0\]\.instance_id: missing"):
        link(ic, server, host).report(malformed)  # the agent checks its report before sending it
    with pytest.raises(OSError, match=r"HTTP 400 .*instances\[0\]\.instance_id: missing"):
        link(ic, server, host)._post_json("/instances", malformed, "instance report")  # and the controller too
    with pytest.raises(OSError, match="HTTP 401"):
        link(ic, server, host, token="wrong").report({"instances": []})


def test_hosts_download_the_files_of_the_images_they_run(ic: InstanceCloud, server: HttpServer,
                                                         tmp_path: Path) -> None:
    instance = ic.run()[0]
    host, image_id = host_of(ic, instance["InstanceId"]), instance["ImageId"]
    target = tmp_path / "kernel"
    link(ic, server, host).download(image_id, "kernel", target)
    with ic.db.read() as conn:
        files = conn.execute(select(state.images.c.files).where(
            state.images.c.image_id == image_id)).scalar_one()
    assert hashlib.sha256(target.read_bytes()).hexdigest() == files["kernel"]["sha256"]
    other = next(h for h in ic.hosts if h != host)
    with pytest.raises(OSError, match="HTTP 404"):
        link(ic, server, other).download(image_id, "kernel", tmp_path / "not-for-you")
    with pytest.raises(OSError, match="HTTP 404"):
        link(ic, server, host).download(image_id, "passwords", tmp_path / "no-such-role")


def test_a_capture_upload_makes_the_image_available(ic: InstanceCloud, server: HttpServer,
                                                    tmp_path: Path) -> None:
    instance_id = ic.run()[0]["InstanceId"]
    host = host_of(ic, instance_id)
    ic.report(host, {instance_id: "running"}, complete=False)
    image_id = ic.call("CreateImage", {"InstanceId": instance_id, "Name": "captured"})["ImageId"]
    disk = tmp_path / "root.qcow2"
    fake_qcow2(disk, 2 << 30)
    other = next(h for h in ic.hosts if h != host)
    with pytest.raises(OSError, match="HTTP 404"):
        link(ic, server, other).upload_capture(image_id, disk)
    link(ic, server, host).upload_capture(image_id, disk)
    image = ic.call("DescribeImages", {"ImageIds": [image_id]})["Images"][0]
    assert image["State"] == "available" and image["BlockDeviceMappings"][0]["Ebs"]["VolumeSize"] == 2
    stored = image_store.image_dir(ic.cloud.config, image_id)
    assert sorted(p.name for p in stored.iterdir()) == ["initrd", "kernel", "root.qcow2"]
    with pytest.raises(OSError, match="HTTP 404"):
        link(ic, server, host).upload_capture(image_id, disk)  # done: nothing pending any more
    launched = ic.call("RunInstances", {"ImageId": image_id, "MinCount": 1, "MaxCount": 1})["Instances"][0]
    assert launched["ImageId"] == image_id
