"""The controller–agent contract's compatibility rule (``agent.contract.version``), through the codec and
through the controller's agent RPC (Flask test client): an agent one minor version behind is understood,
unknown fields are ignored, a malformed message is a 400 naming the field, another major a 426 naming both
versions. And docs/contract.md names every message of the package."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import agent.contract
from agent.contract.codec import from_json, to_json
from agent.contract.hosts import HostRegistration
from agent.contract.reports import InstancesReport, ProbesReport
from agent.contract.version import (
    CONTRACT_VERSION,
    UNVERSIONED,
    ContractError,
    IncompatibleVersion,
    check_compatible,
    major,
)
from tests.unit.harness import Clouds
from tests.unit.test_agent_rpc import Harness

DOCS = Path(__file__).resolve().parents[2] / "docs" / "contract.md"
#: The version before this one, whose registration had no ``contract_version`` field in its own release but
#: sends one here: 1.3 knew every field up to ``tunnel_url``.
ONE_BEHIND = f"{major(CONTRACT_VERSION)}.{int(CONTRACT_VERSION.split('.')[1]) - 1}"
OTHER_MAJOR = f"{major(CONTRACT_VERSION) + 1}.0"
REGISTRATION = {"host_id": "h-1", "hostname": "box", "zone": "home-1a", "vcpus": 2, "memory_mib": 1024,
                "disk_gib": 10, "hypervisor": "none", "agent_version": "0.1.0"}


@pytest.fixture
def harness(clouds: Clouds) -> Harness:
    return Harness(clouds.vpc())


def test_minors_mix_and_majors_do_not() -> None:
    check_compatible(ONE_BEHIND)
    check_compatible(f"{major(CONTRACT_VERSION)}.99")
    with pytest.raises(IncompatibleVersion, match=re.escape(OTHER_MAJOR)):
        check_compatible(OTHER_MAJOR)
    with pytest.raises(ContractError, match="MAJOR.MINOR"):
        major("one")


def test_a_message_without_a_newer_optional_field_takes_its_default() -> None:
    registration = from_json(HostRegistration, {**REGISTRATION, "contract_version": ONE_BEHIND})
    assert registration.tunnel_url is None and registration.contract_version == ONE_BEHIND
    unversioned = from_json(HostRegistration, REGISTRATION)
    assert unversioned.contract_version == UNVERSIONED and unversioned.capabilities == []


def test_unknown_fields_are_ignored_at_every_depth() -> None:
    report = from_json(InstancesReport, {"instances": [{"instance_id": "i-1", "power": "running", "gpu": 1}],
                                         "next_big_thing": True})
    assert report.instances[0].power == "running"
    assert from_json(InstancesReport, to_json(report)) == report


def test_malformed_messages_name_the_field() -> None:
    with pytest.raises(ContractError, match=r"InstancesReport\.instances\[0\]\.power: expected str"):
        from_json(InstancesReport, {"instances": [{"instance_id": "i-1", "power": 5}]})
    with pytest.raises(ContractError, match=r"HostRegistration\.zone: missing"):
        from_json(HostRegistration, {k: v for k, v in REGISTRATION.items() if k != "zone"})
    with pytest.raises(ContractError, match="outcome 'maybe'"):
        from_json(ProbesReport, {"results": [{"probe_id": "nia-1", "outcome": "maybe"}]})


def test_an_agent_one_version_behind_registers_beats_and_reports(harness: Harness) -> None:
    body = {**REGISTRATION, "contract_version": ONE_BEHIND, "retired_field": "x"}
    assert harness.request("POST", "/hosts", json=body).status_code == 201
    beat = harness.request("POST", "/hosts/h-1/heartbeat",
                           json={"contract_version": ONE_BEHIND, "load": 0.5, "free_memory_mib": 512})
    assert beat.status_code == 200
    # a probe result without ``seconds`` and ``detail`` (optional): recorded as unknown, not refused
    report = harness.request("POST", "/hosts/h-1/probes", json={
        "contract_version": ONE_BEHIND, "results": [{"probe_id": "nia-0123456789abcdef0", "outcome": "arrived"}]})
    assert report.status_code == 200 and report.get_json()["recorded"] == []
    [host] = harness.request("GET", "/hosts").get_json()["hosts"]
    assert host["host_id"] == "h-1" and host["state"] == "up"


def test_another_major_is_refused_at_registration_naming_both_versions(harness: Harness) -> None:
    answer = harness.request("POST", "/hosts", json={**REGISTRATION, "contract_version": OTHER_MAJOR})
    assert answer.status_code == 426
    error = answer.get_json()["error"]
    assert OTHER_MAJOR in error and CONTRACT_VERSION in error
    assert answer.get_json()["contract_version"] == CONTRACT_VERSION
    assert harness.request("GET", "/hosts").get_json()["hosts"] == []


def test_malformed_reports_are_400_naming_the_field_never_500(harness: Harness) -> None:
    harness.register()
    for path, body, field in [
        ("/hosts/h-1/instances", {"instances": [{"instance_id": "i-1", "power": 5}]}, "instances[0].power"),
        ("/hosts/h-1/volumes", {"volumes": {"vol-1": {"state": "melted"}}}, "volumes.vol-1"),
        ("/hosts/h-1/metrics", {"time": "soon", "instances": []}, "time"),
        ("/hosts/h-1/batch", {"attempts": [{"job_id": "j", "attempt": "1", "state": "RUNNING"}]},
         "attempts[0].attempt"),
        ("/hosts/h-1/loadbalancers", {"nodes": [{"load_balancer_arn": "a", "interface_id": "eni-1",
                                                 "targets": [{"target_group_arn": "t", "id": "x", "port": 0,
                                                              "state": "healthy"}]}]}, "targets[0]"),
        ("/hosts/h-1/probes", {"results": "none"}, "results"),
        ("/hosts/h-1/heartbeat", {"load": "high", "free_memory_mib": 1}, "load"),
        ("/hosts/h-1/instances", [1, 2], "not a JSON object"),
    ]:
        answer = harness.request("POST", path, json=body)
        assert answer.status_code == 400, (path, answer.status_code, answer.get_data())
        assert field in answer.get_json()["error"], (path, answer.get_json())


def contract_dataclasses() -> dict[str, type]:
    """Every public dataclass the package defines (its messages and their parts), by name."""
    found = {}
    for info in pkgutil.iter_modules(agent.contract.__path__):
        module = importlib.import_module(f"agent.contract.{info.name}")
        for name, value in vars(module).items():
            if dataclasses.is_dataclass(value) and value.__module__ == module.__name__ and not name.startswith("_"):
                found[name] = value
    return found


def test_the_contract_page_names_every_message_of_the_package() -> None:
    page = DOCS.read_text()
    found = contract_dataclasses()
    assert {"HostRegistration", "InstancesReport", "HostNetwork", "DesiredInstance"} <= set(found)
    assert [name for name in sorted(found) if not re.search(rf"`{name}`", page)] == []
