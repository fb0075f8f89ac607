"""The controller's side of the agent RPC: registration, the desired-state long-poll, release, metadata,
the generation watch and namespace attachments, against a temporary database (Flask test client)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import text

from agent.contract.version import CONTRACT_VERSION
from controller.ec2.vpc import eni_records
from controller.ec2.vpc import state as ec2_state
from controller.errors import ServiceError
from controller.hosts import agent_api, generation, rpc
from controller.hosts.credentials import AgentCredentials
from controller.state import Database
from tests.unit.harness import Clouds, VpcCloud

TOKEN = "secret-token"
BASE = "/_cloudlet/agent/v1"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Harness:
    def __init__(self, cloud: VpcCloud) -> None:
        self.cloud = cloud
        cloud.cloud.agent_token = TOKEN
        cloud.cloud.agent_credentials = AgentCredentials(cloud.cloud.db, TOKEN)
        app = Flask("test")
        app.register_blueprint(agent_api.blueprint, url_prefix=BASE)
        app.config["CLOUD"] = cloud.cloud
        self.app = app

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.app.test_client().open(BASE + path, method=method, headers=AUTH, **kwargs)

    def register(self, host_id: str = "h-1", zone: str = "home-1a", **extra: Any) -> None:
        body = {"host_id": host_id, "hostname": "box", "zone": zone, "vcpus": 2, "memory_mib": 1024,
                "disk_gib": 10, "hypervisor": "none", "agent_version": "old", **extra}
        assert self.request("POST", "/hosts", json=body).status_code == 201

    def desired(self, host_id: str = "h-1", generation: int = -1, digest: str = "", wait: float = 0) -> Any:
        response = self.request("GET", f"/hosts/{host_id}/desired?generation={generation}&digest={digest}"
                                       f"&wait={wait}")
        return response.status_code, response.get_json()

    def vpc_with_interface(self, cidr: str = "10.0.0.0/16", zone: str = "home-1a") -> tuple[str, str, str]:
        vpc_id = self.cloud.call("CreateVpc", {"CidrBlock": cidr})["Vpc"]["VpcId"]
        subnet = self.cloud.call("CreateSubnet", {"VpcId": vpc_id, "CidrBlock": cidr.replace("0.0/16", "1.0/24"),
                                                  "AvailabilityZone": zone})["Subnet"]["SubnetId"]
        eni = self.cloud.call("CreateNetworkInterface", {"SubnetId": subnet})["NetworkInterface"]
        return vpc_id, subnet, eni["NetworkInterfaceId"]

    def attach(self, eni_id: str, netns: str = "cl-test-ns", host_id: str = "h-1", zone: str = "home-1a") -> str:
        with ec2_state.write(self.cloud.db) as conn:
            return eni_records.attach_namespace(conn, eni_id, host_id, zone, netns)


@pytest.fixture
def harness(clouds: Clouds) -> Harness:
    return Harness(clouds.vpc())


def later(seconds: float, action: Any) -> threading.Thread:
    thread = threading.Timer(seconds, action)
    thread.start()
    return thread


def test_requests_need_the_agent_token(harness: Harness) -> None:
    response = harness.app.test_client().get(BASE + "/hosts", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401


def test_a_host_credential_registers_reports_and_polls_for_its_own_host_only(harness: Harness) -> None:
    token = harness.cloud.cloud.agent_credentials.issue("h-joined")
    client = harness.app.test_client()
    own = {"Authorization": f"Bearer {token}"}
    body = {"host_id": "h-joined", "hostname": "n2", "zone": "home-1b", "vcpus": 2, "memory_mib": 1024,
            "disk_gib": 10, "hypervisor": "none", "agent_version": "x"}
    assert client.post(BASE + "/hosts", json=body, headers=own).status_code == 201
    assert client.post(BASE + "/hosts", json={**body, "host_id": "h-other"}, headers=own).status_code == 403
    beat = {"load": 0.5, "free_memory_mib": 100}
    assert client.post(BASE + "/hosts/h-joined/heartbeat", json=beat, headers=own).status_code == 200
    assert client.post(BASE + "/hosts/h-other/heartbeat", json=beat, headers=own).status_code == 403
    assert client.get(BASE + "/hosts/h-other/desired?wait=0", headers=own).status_code == 403
    assert client.get(BASE + "/hosts/h-joined/desired?wait=0", headers=own).status_code == 200
    harness.cloud.cloud.agent_credentials.revoke("h-joined")
    assert client.get(BASE + "/hosts", headers=own).status_code == 401


def test_old_and_new_registrations_are_both_understood(harness: Harness) -> None:
    harness.register("h-old")  # schema 1: no underlay_ip, no schema field
    harness.register("h-new", capabilities=["vpc-dataplane"], underlay_ip="198.18.0.2", schema=2, future_field=1)
    hosts = {h["host_id"]: h for h in harness.request("GET", "/hosts").get_json()["hosts"]}
    assert hosts["h-old"]["underlay_ip"] is None
    assert hosts["h-new"]["underlay_ip"] == "198.18.0.2" and hosts["h-new"]["capabilities"] == ["vpc-dataplane"]
    bad = harness.request("POST", "/hosts", json={"host_id": "h", "zone": "mars-1a"})
    assert bad.status_code == 400


def test_an_older_hosts_table_gets_the_new_column(tmp_path: Path) -> None:
    db = Database(tmp_path / "old.db")
    with db.begin() as conn:
        conn.execute(text("CREATE TABLE hosts (host_id VARCHAR(64) PRIMARY KEY, hostname VARCHAR(255) NOT NULL, "
                          "zone VARCHAR(32) NOT NULL, vcpus INTEGER NOT NULL, memory_mib INTEGER NOT NULL, "
                          "disk_gib INTEGER NOT NULL, hypervisor VARCHAR(16) NOT NULL, agent_version VARCHAR(32) "
                          "NOT NULL, capabilities TEXT NOT NULL, registered_at VARCHAR(32) NOT NULL, last_heartbeat "
                          "VARCHAR(32) NOT NULL, load VARCHAR(16), free_memory_mib INTEGER)"))
    db.create_schema()  # a store made before Alembic: stamped as the baseline, then migrated (0002)
    with db.read() as conn:
        assert "underlay_ip" in {row[1] for row in conn.execute(text("PRAGMA table_info(hosts)"))}


def test_desired_has_every_section_and_answers_unchanged_by_digest(harness: Harness) -> None:
    assert harness.desired("h-unknown")[0] == 404
    harness.register()
    status, document = harness.desired()
    assert status == 200 and document["changed"]
    assert set(document["sections"]) >= {"network", "namespaces"}
    assert document["sections"]["network"]["host_id"] == "h-1" and document["sections"]["namespaces"] == []
    status, again = harness.desired(generation=document["generation"], digest=document["digest"])
    assert status == 200 and again == {"generation": document["generation"], "digest": document["digest"],
                                       "changed": False, "sections": {}, "contract_version": CONTRACT_VERSION}


def test_a_write_for_this_host_ends_the_long_poll_at_once(harness: Harness) -> None:
    harness.register()
    _, eni = harness.vpc_with_interface()[1:]
    _, document = harness.desired()
    started = time.monotonic()
    writer = later(0.2, lambda: harness.attach(eni))
    _, changed = harness.desired(generation=document["generation"], digest=document["digest"], wait=10)
    elapsed = time.monotonic() - started
    writer.join()
    assert changed["changed"] and 0.2 <= elapsed < 1.0
    [attachment] = changed["sections"]["namespaces"]
    assert attachment["eni_id"] == eni and attachment["ipv4"][0].endswith("/24")
    assert attachment["gateway"] == "10.0.1.1" and attachment["addressing"] == "static"
    [vpc] = changed["sections"]["network"]["vpcs"]
    port = vpc["enis"][0]["attachment"]
    assert port == {"port": eni_records.namespace_port(eni), "kind": "veth", "instance_netns": "cl-test-ns",
                    "guest_ifname": "eth0"}


def test_changes_elsewhere_keep_the_poll_waiting_until_its_end(harness: Harness) -> None:
    harness.register()
    _, document = harness.desired()
    writer = later(0.1, lambda: harness.vpc_with_interface("10.9.0.0/16"))  # nothing of it is on h-1
    started = time.monotonic()
    _, answer = harness.desired(generation=document["generation"], digest=document["digest"], wait=0.8)
    writer.join()
    assert not answer["changed"] and answer["generation"] > document["generation"]
    assert time.monotonic() - started >= 0.75


def test_release_ends_a_pending_long_poll(harness: Harness) -> None:
    harness.register()
    _, document = harness.desired()
    releaser = later(0.2, lambda: harness.request("POST", "/hosts/h-1/release"))
    started = time.monotonic()
    _, answer = harness.desired(generation=document["generation"], digest=document["digest"], wait=10)
    releaser.join()
    assert not answer["changed"] and time.monotonic() - started < 2.0


def test_metadata_is_served_only_for_interfaces_on_the_asking_host(harness: Harness,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    harness.register()
    _, eni = harness.vpc_with_interface()[1:]
    assert harness.request("GET", f"/hosts/h-1/metadata?eni={eni}").status_code == 404  # not plugged here
    harness.attach(eni)
    answers: dict[str, Any] = {}
    monkeypatch.setattr(rpc, "metadata_for_interface", lambda cloud, eni_id: answers.get(eni_id))
    assert harness.request("GET", f"/hosts/h-1/metadata?eni={eni}").status_code == 404  # no instance there
    answers[eni] = {"meta_data": {"instance-id": "i-1"}, "user_data": b"\x00hi", "dynamic": {}, "ttl_seconds": 5}
    response = harness.request("GET", f"/hosts/h-1/metadata?eni={eni}")
    assert response.status_code == 200
    assert response.get_json() == {"meta_data": {"instance-id": "i-1"}, "dynamic": {}, "user_data_b64": "AGhp",
                                   "ttl_seconds": 5}
    assert harness.request("GET", f"/hosts/h-2/metadata?eni={eni}").status_code == 404


def test_the_watch_sees_writes_of_other_connections_and_wakes_waiters(clouds: Clouds) -> None:
    db = clouds.vpc().db
    watch = generation.GenerationWatch(db, interval=0.01)
    known = watch.current()

    def bump() -> None:
        with db.begin() as conn:
            generation.bump(conn)

    bumper = later(0.1, bump)
    started = time.monotonic()
    assert watch.wait(known, 5) == known + 1
    bumper.join()
    assert time.monotonic() - started < 1.0
    kicker = later(0.1, watch.kick)
    assert watch.wait(known + 1, 5) == known + 1
    kicker.join()
    assert watch.wait(known + 1, 0.05) == known + 1  # a plain timeout


def refused(code: str, action: Any) -> None:
    with pytest.raises(ServiceError) as excinfo:
        action()
    assert excinfo.value.code == code, excinfo.value.message


def test_namespace_attachments_follow_ec2_rules(harness: Harness) -> None:
    vpc_id, subnet, eni = harness.vpc_with_interface()
    refused("InvalidParameterValue", lambda: harness.attach(eni, zone="home-1b"))
    refused("InvalidNetworkInterfaceID.NotFound", lambda: harness.attach("eni-00000000000000000"))
    attachment = harness.attach(eni)
    assert attachment.startswith("eni-attach-")
    refused("InvalidNetworkInterface.InUse", lambda: harness.attach(eni, netns="other"))
    harness.cloud.refused("DeleteNetworkInterface", {"NetworkInterfaceId": eni}, "InvalidNetworkInterface.InUse")
    harness.cloud.refused("DetachNetworkInterface", {"AttachmentId": attachment}, "OperationNotPermitted")
    with harness.cloud.db.read() as conn:
        [listed] = eni_records.namespace_attachments(conn)
    assert (listed["eni_id"], listed["host_id"], listed["netns"], listed["vpc_id"]) == (eni, "h-1", "cl-test-ns",
                                                                                        vpc_id)
    with ec2_state.write(harness.cloud.db) as conn:
        eni_records.detach_namespace(conn, eni)
    with ec2_state.write(harness.cloud.db) as conn:
        refused("InvalidParameterValue", lambda: eni_records.detach_namespace(conn, eni))
    harness.cloud.call("DeleteNetworkInterface", {"NetworkInterfaceId": eni})
    igw = harness.cloud.call("CreateInternetGateway")["InternetGateway"]["InternetGatewayId"]
    harness.cloud.call("AttachInternetGateway", {"InternetGatewayId": igw, "VpcId": vpc_id})
    allocation = harness.cloud.call("AllocateAddress")["AllocationId"]
    nat = harness.cloud.call("CreateNatGateway", {"SubnetId": subnet, "AllocationId": allocation})["NatGateway"]
    nat_eni = nat["NatGatewayAddresses"][0]["NetworkInterfaceId"]
    refused("OperationNotPermitted", lambda: harness.attach(nat_eni))


def test_a_bump_in_this_process_wakes_waiters_at_commit_without_polling(clouds: Clouds) -> None:
    db = clouds.vpc().db
    watch = generation.GenerationWatch(db)
    watch.interval = 30.0  # the poll would take half a minute: only the commit hook can be this fast
    known = watch.current()

    def bump() -> None:
        with db.begin() as conn:
            generation.bump(conn)

    bumper = later(0.1, bump)
    started = time.monotonic()
    assert watch.wait(known, 5) == known + 1
    bumper.join()
    assert time.monotonic() - started < 1.0
