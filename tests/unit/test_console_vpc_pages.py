"""The console's VPC pages in-process (Flask's test client, a root session): the topology document's ETag,
and the network ACL editor's create, replace, refusal and delete. The browser tests (tests/console) cover the
live picture, the security group editor and Reachability Analyzer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from controller import service_calls
from controller.auth.store import root_principal
from controller.cloud import Cloud
from controller.config import Config
from controller.console import pages_vpc, state
from controller.console.sessions import COOKIE
from controller.wsgi import create_app
from tests.unit.test_console import signed_in


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    made = Cloud(Config(data_dir=tmp_path / "data"))
    made.credentials.create_account("cloudlet", "root@cloudlet.local", is_management=True)
    yield made
    made.close()


def ec2(cloud: Cloud, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    """A call as the management account's root user, outside the console."""
    account = cloud.credentials.management_account()
    assert account is not None
    return service_calls.call(cloud, root_principal(account), "ec2", operation, params, invoked_by="test",
                              source_ip="127.0.0.1")


@pytest.fixture
def console(cloud: Cloud) -> tuple[FlaskClient, str]:
    """A test client signed in as root, and its session's CSRF token."""
    token = state.create(cloud.db, cloud.secrets, signed_in(cloud))
    found = state.find(cloud.db, cloud.secrets, token)
    assert found is not None
    client = create_app(cloud).test_client()
    client.set_cookie(COOKIE, token, path="/console")
    return client, found.csrf_token


def test_the_graph_document_answers_304_until_the_vpc_changes(cloud: Cloud, console: tuple[FlaskClient, str]) -> None:
    client, _ = console
    vpc = ec2(cloud, "CreateVpc", {"CidrBlock": "10.5.0.0/16"})["Vpc"]["VpcId"]
    first = client.get(f"/console/vpc/{vpc}/graph.json")
    assert first.status_code == 200 and first.json is not None and first.json["vpc"]["id"] == vpc
    etag = first.headers["ETag"]
    assert client.get(f"/console/vpc/{vpc}/graph.json", headers={"If-None-Match": etag}).status_code == 304
    subnet = ec2(cloud, "CreateSubnet", {"VpcId": vpc, "CidrBlock": "10.5.1.0/24"})["Subnet"]["SubnetId"]
    changed = client.get(f"/console/vpc/{vpc}/graph.json", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.json is not None
    assert subnet in {node["data"]["id"] for node in changed.json["elements"]["nodes"]}
    assert client.get("/console/vpc/vpc-00000000000000000/graph.json").status_code == 400  # the API's refusal


def entries(cloud: Cloud, acl_id: str) -> dict[tuple[bool, int], dict[str, Any]]:
    acl = ec2(cloud, "DescribeNetworkAcls", {"NetworkAclIds": [acl_id]})["NetworkAcls"][0]
    return {(entry["Egress"], entry["RuleNumber"]): entry for entry in acl["Entries"]}


def test_the_network_acl_editor_creates_replaces_and_deletes_entries(
        cloud: Cloud, console: tuple[FlaskClient, str]) -> None:
    client, csrf = console
    vpc = ec2(cloud, "CreateVpc", {"CidrBlock": "10.6.0.0/16"})["Vpc"]["VpcId"]
    acl = ec2(cloud, "CreateNetworkAcl", {"VpcId": vpc})["NetworkAcl"]["NetworkAclId"]
    form = {"_csrf": csrf, "direction": "ingress", "rule_number": "100", "protocol": "tcp", "from_port": "22",
            "cidr": "10.0.0.0/8", "action": "allow", "op": "create"}
    assert client.post(f"/console/vpc/network-acls/{acl}/entries", data=form).status_code == 303
    assert entries(cloud, acl)[(False, 100)]["PortRange"] == {"From": 22, "To": 22}
    again = client.post(f"/console/vpc/network-acls/{acl}/entries", data=form)
    assert again.status_code == 400 and b"NetworkAclEntryAlreadyExists" in again.data
    replaced = client.post(f"/console/vpc/network-acls/{acl}/entries", data={**form, "op": "replace",
                                                                           "action": "deny"})
    assert replaced.status_code == 303 and entries(cloud, acl)[(False, 100)]["RuleAction"] == "deny"
    page = client.get(replaced.headers["Location"])
    assert b"Entry replaced." in page.data and b'id="entry-ingress-100"' in page.data
    deleted = client.post(f"/console/vpc/network-acls/{acl}/entries/delete",
                          data={"_csrf": csrf, "direction": "ingress", "rule_number": "100"})
    assert deleted.status_code == 303 and (False, 100) not in entries(cloud, acl)
    refused = client.post(f"/console/vpc/network-acls/{acl}/entries", data={**form, "from_port": "ssh"})
    assert refused.status_code == 400 and b"must be a number" in refused.data


def test_an_analysis_shows_what_its_dataplane_probe_showed() -> None:
    analysis = {"NetworkInsightsAnalysisId": "nia-1", "Status": "succeeded", "NetworkPathFound": False,
                "Explanations": [], "WarningMessage": "A probe packet sent through the dataplane did not arrive."}
    assert pages_vpc._shown_analysis(analysis)["probe"] == analysis["WarningMessage"]
    del analysis["WarningMessage"]  # no probe was due (the path's ENIs are on no probing agent)
    assert pages_vpc._shown_analysis(analysis)["probe"] == ""
