"""Reachability Analyzer's dataplane probes: the packet and its plan (pure), and the controller's side of the
contract (who probes, the ``probes`` section, the report, the timeout) through the agent RPC."""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import struct
from typing import Any

import pytest
from sqlalchemy import update

from agent.contract.codec import to_json
from agent.contract.hosts import CAPABILITY_PROBES
from agent.contract.probes import ProbeRequest, ProbeResult
from agent.network import naming
from agent.network.probe import checksum, is_probe, plan_probe
from agent.service import probes as agent_probes
from controller.ec2.vpc.reachability import probes, state
from controller.state import utcnow
from tests.unit.harness import Clouds
from tests.unit.test_agent_rpc import Harness

REQUEST = ProbeRequest(
    probe_id="nia-0123456789abcdef0", protocol="tcp", destination_port=5432, source_eni="eni-1", source_vpc_id="vpc-1",
    source_subnet_id="subnet-a", source_mac="02:00:00:00:00:0a", source_address="10.1.1.10", destination_eni="eni-2",
    destination_vpc_id="vpc-1", destination_subnet_id="subnet-b", destination_mac="02:00:00:00:00:0b",
    destination_address="10.1.2.10", destination_bridge_port="cl-db")


def test_a_tcp_probe_is_a_syn_from_the_source_interface_to_the_subnet_router() -> None:
    plan = plan_probe(REQUEST, "cl-x-", 50000, 0xDEADBEEF)
    frame = plan.frame
    assert frame[:6].hex(":") == naming.mac_for("subnet-a") and frame[6:12].hex(":") == REQUEST.source_mac
    ip, tcp = frame[14:34], frame[34:]
    assert checksum(ip) == 0, "the IPv4 header checksum must verify"
    assert (str(ipaddress.IPv4Address(ip[12:16])), str(ipaddress.IPv4Address(ip[16:20]))) == ("10.1.1.10",
                                                                                             "10.1.2.10")
    pseudo = ip[12:20] + struct.pack("!BBH", 0, 6, len(tcp))
    assert checksum(pseudo + tcp) == 0, "the TCP checksum must verify"
    assert struct.unpack("!HHI", tcp[:8]) == (50000, 5432, 0xDEADBEEF) and tcp[13] == 0x02
    assert (plan.inject_netns, plan.bridge, plan.watch_netns, plan.watch_port) == (
        "cl-x-vpc-1", naming.subnet_bridge("subnet-a"), "cl-x-vpc-1", "cl-db")
    assert plan.port.startswith("q") and len(plan.inner) <= naming.IFNAMSIZ


def test_on_its_own_subnet_a_udp_probe_goes_straight_to_the_destination() -> None:
    request = dataclasses.replace(REQUEST, protocol="udp", destination_subnet_id="subnet-a", on_link=True)
    plan = plan_probe(request, "cl-", 60000, 7)
    assert plan.frame[:6].hex(":") == REQUEST.destination_mac
    udp = plan.frame[34:]
    pseudo = plan.frame[26:34] + struct.pack("!BBH", 0, 17, len(udp))
    assert checksum(pseudo + udp) == 0 and is_probe(plan.frame, plan)


def test_the_watch_knows_its_probe_after_nat_and_nothing_else() -> None:
    plan = plan_probe(REQUEST, "cl-", 50000, 1234)
    translated = plan.frame[:30] + ipaddress.IPv4Address("10.9.9.9").packed + plan.frame[34:]
    assert is_probe(translated, plan)
    assert not is_probe(plan_probe(REQUEST, "cl-", 50000, 4321).frame, plan), "another probe's nonce"
    assert not is_probe(plan_probe(REQUEST, "cl-", 50001, 1234).frame, plan), "another source port"
    assert not is_probe(plan.frame[:20], plan) and not is_probe(b"\xff" * 12 + b"\x86\xdd" + plan.frame[14:], plan)


def test_a_probe_sends_only_tcp_or_udp() -> None:
    with pytest.raises(ValueError, match="tcp or udp"):
        plan_probe(dataclasses.replace(REQUEST, protocol="icmp"), "cl-", 50000, 1)


# --- the controller's side ---------------------------------------------------------------------------------------


@pytest.fixture
def rpc(clouds: Clouds) -> Harness:
    return Harness(clouds.vpc())


def plugged_pair(rpc: Harness, port: int) -> tuple[str, str]:
    """A client and a database interface on one subnet of host h-1, a path between them and its analysis."""
    rpc.register("h-1", capabilities=[CAPABILITY_PROBES])
    vpc_id, subnet, client = rpc.vpc_with_interface()
    database = rpc.cloud.call("CreateNetworkInterface", {"SubnetId": subnet})["NetworkInterface"][
        "NetworkInterfaceId"]
    rpc.attach(client, "cl-test-client")
    rpc.attach(database, "cl-test-db")
    path = rpc.cloud.call("CreateNetworkInsightsPath", {"Source": client, "Destination": database, "Protocol": "tcp",
                                                        "DestinationPort": port})["NetworkInsightsPath"]
    started = rpc.cloud.call("StartNetworkInsightsAnalysis", {"NetworkInsightsPathId": path["NetworkInsightsPathId"]})
    return started["NetworkInsightsAnalysis"]["NetworkInsightsAnalysisId"], database


def describe(rpc: Harness, analysis_id: str) -> dict[str, Any]:
    return rpc.cloud.call("DescribeNetworkInsightsAnalyses", {"NetworkInsightsAnalysisIds": [analysis_id]})[
        "NetworkInsightsAnalyses"][0]


def test_an_analysis_stays_running_until_the_probing_agent_reports(rpc: Harness) -> None:
    analysis_id, database = plugged_pair(rpc, 22)
    assert describe(rpc, analysis_id)["Status"] == "running"
    status, desired = rpc.desired("h-1")
    (sent,) = desired["sections"]["probes"]["probes"]
    assert (sent["probe_id"], sent["destination_eni"], sent["destination_port"], sent["on_link"]) == (
        analysis_id, database, 22, True)
    rpc.register("h-2", capabilities=[CAPABILITY_PROBES])
    assert rpc.desired("h-2")[1]["sections"]["probes"] == {"probes": []}, "only the source's host probes"

    assert rpc.request("POST", "/hosts/h-2/probes", json={"results": [
        {"probe_id": analysis_id, "outcome": "arrived"}]}).get_json()["recorded"] == []
    assert rpc.request("POST", "/hosts/h-1/probes", json={"results": [{"probe_id": analysis_id}]}).status_code == 400
    answer = rpc.request("POST", "/hosts/h-1/probes", json={"results": [
        {"probe_id": analysis_id, "outcome": "arrived", "seconds": 0.2}]}).get_json()
    assert answer["recorded"] == [analysis_id]
    found = describe(rpc, analysis_id)
    assert found["Status"] == "succeeded" and found["NetworkPathFound"] is True, "the default group lets it in"
    assert found["WarningMessage"] == ("A dataplane probe arrived at the destination on host h-1: it confirms this "
                                       "verdict.")
    with rpc.cloud.db.read() as conn:
        assert probes.probe_outcome(conn, rpc.cloud.account, analysis_id) == {
            "state": "arrived", "host_id": "h-1", "seconds": 0.2, "agrees": True}
    assert rpc.desired("h-1")[1]["sections"]["probes"] == {"probes": []}


def test_a_probe_that_disagrees_says_so() -> None:
    outcome = {"state": "not-arrived", "host_id": "h-1", "seconds": 1.0}
    assert "did not reach the destination on host h-1: it CONTRADICTS" in probes.warning_message(outcome, True)


def test_a_probe_that_never_comes_back_leaves_the_verdict_alone(rpc: Harness) -> None:
    analysis_id, _ = plugged_pair(rpc, 22)
    with rpc.cloud.db.begin() as conn:
        conn.execute(update(state.analyses).where(state.analyses.c.analysis_id == analysis_id).values(
            started_at=utcnow() - dt.timedelta(seconds=probes.PROBE_SECONDS + 1)))
    found = describe(rpc, analysis_id)
    assert found["Status"] == "succeeded" and "could not confirm" in found["WarningMessage"]
    assert rpc.desired("h-1")[1]["sections"]["probes"] == {"probes": []}
    assert rpc.request("POST", "/hosts/h-1/probes", json={"results": [
        {"probe_id": analysis_id, "outcome": "arrived"}]}).get_json()["recorded"] == [], "too late"


def test_without_an_agent_on_the_source_host_the_verdict_stands_alone(rpc: Harness) -> None:
    rpc.register("h-1")  # an agent that sends no probes
    _, subnet, client = rpc.vpc_with_interface()
    database = rpc.cloud.call("CreateNetworkInterface", {"SubnetId": subnet})["NetworkInterface"][
        "NetworkInterfaceId"]
    rpc.attach(client)
    path = rpc.cloud.call("CreateNetworkInsightsPath", {"Source": client, "Destination": database,
                                                        "Protocol": "tcp", "DestinationPort": 22})
    started = rpc.cloud.call("StartNetworkInsightsAnalysis", {
        "NetworkInsightsPathId": path["NetworkInsightsPath"]["NetworkInsightsPathId"]})["NetworkInsightsAnalysis"]
    found = describe(rpc, started["NetworkInsightsAnalysisId"])
    assert found["Status"] == "succeeded" and "WarningMessage" not in found
    with rpc.cloud.db.read() as conn:
        assert probes.probe_outcome(conn, rpc.cloud.account, started["NetworkInsightsAnalysisId"]) == {
            "state": "unprobed", "detail": "the source or destination interface is not plugged on any host"}


# --- the agent's reconciler -----------------------------------------------------------------------------------------


class FlakyController:
    """Records reports; the first one is lost, as when the controller restarts."""

    def __init__(self) -> None:
        self.reports: list[list[str]] = []

    def report_probes(self, host_id: str, results: list[ProbeResult]) -> dict[str, Any]:
        self.reports.append([r.probe_id for r in results])
        if len(self.reports) == 1:
            raise OSError("connection refused")
        return {"recorded": [r.probe_id for r in results]}


def test_the_agent_probes_once_and_reports_until_the_controller_heard_it(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[str] = []

    def fake_probe(request: ProbeRequest, prefix: str, watch_seconds: float) -> ProbeResult:
        ran.append(request.probe_id)
        return ProbeResult(request.probe_id, "arrived")

    monkeypatch.setattr(agent_probes, "run_probe", fake_probe)
    controller = FlakyController()
    reconciler = agent_probes.ProbeReconciler(controller, "h-1", "cl-")  # type: ignore[arg-type]
    section = {"probes": [to_json(REQUEST)]}
    with pytest.raises(OSError):
        reconciler.reconcile(section)
    reconciler.reconcile(section)
    reconciler.reconcile(section)
    assert ran == [REQUEST.probe_id] and controller.reports == [[REQUEST.probe_id]] * 2
    reconciler.reconcile({"probes": []})
    reconciler.reconcile(section)
    assert ran == [REQUEST.probe_id] * 2, "a probe listed again after it left is a new request"
