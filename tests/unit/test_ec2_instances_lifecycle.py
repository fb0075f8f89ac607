"""The instance state machine, pure and through the API with agent reports standing in for a host."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from controller.ec2.instances import lifecycle as lc
from controller.ec2.instances import state as instance_state
from controller.ec2.instances.lifecycle import Observation
from controller.ec2.vpc import state
from controller.errors import ServiceError
from controller.hosts import state as hosts_state
from tests.unit.harness import InstanceCloud

NOW = dt.datetime(2024, 5, 1, 10, 0, tzinfo=dt.UTC)


def test_codes_and_what_the_agent_must_do() -> None:
    assert lc.CODES == {"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64,
                        "stopped": 80}
    assert [lc.wanted(s) for s in lc.CODES] == ["running", "running", "terminated", "terminated", "stopped",
                                                "stopped"]


@pytest.mark.parametrize(("call", "state", "expected"), [
    ("start", "stopped", "pending"), ("start", "running", "running"), ("start", "pending", "pending"),
    ("stop", "running", "stopping"), ("stop", "pending", "stopping"), ("stop", "stopped", "stopped"),
    ("terminate", "running", "shutting-down"), ("terminate", "stopped", "shutting-down"),
    ("terminate", "terminated", "terminated"),
])
def test_api_transitions(call: str, state: str, expected: str) -> None:
    if call == "start":
        transition = lc.start("i-1", state, NOW)
    elif call == "stop":
        transition = lc.stop("i-1", state, "ebs", NOW)
    else:
        transition = lc.terminate("i-1", state, NOW)
    assert transition.state == expected
    if expected != state and call != "start":
        assert transition.reason == lc.USER_SHUTDOWN
        assert transition.transition_reason == "User initiated (2024-05-01 10:00:00 GMT)"


@pytest.mark.parametrize(("call", "state", "code"), [
    ("start", "stopping", "IncorrectInstanceState"), ("start", "terminated", "IncorrectInstanceState"),
    ("stop", "shutting-down", "IncorrectInstanceState"), ("stop", "terminated", "IncorrectInstanceState"),
])
def test_api_refusals(call: str, state: str, code: str) -> None:
    with pytest.raises(ServiceError) as excinfo:
        lc.start("i-1", state, NOW) if call == "start" else lc.stop("i-1", state, "ebs", NOW)
    assert excinfo.value.code == code


def test_instance_store_roots_cannot_stop_and_protections_hold() -> None:
    with pytest.raises(ServiceError) as excinfo:
        lc.stop("i-1", "running", "instance-store", NOW)
    assert excinfo.value.code == "UnsupportedOperation"
    with pytest.raises(ServiceError) as excinfo:
        lc.terminate("i-1", "running", NOW, api_termination_disabled=True)
    assert excinfo.value.code == "OperationNotPermitted"
    with pytest.raises(ServiceError) as excinfo:
        lc.stop("i-1", "running", "ebs", NOW, api_stop_disabled=True)
    assert excinfo.value.code == "OperationNotPermitted"
    with pytest.raises(ServiceError):
        lc.check_reboot("i-1", "stopped")
    with pytest.raises(ServiceError) as excinfo:
        lc.check_stopped("i-1", "running")
    assert excinfo.value.message == "The instance 'i-1' is not in the 'stopped' state."


@pytest.mark.parametrize(("state", "behavior", "seen", "expected"), [
    ("pending", "stop", Observation("running"), "running"),
    ("pending", "stop", Observation("absent"), None),
    ("pending", "stop", Observation("shutoff"), None),
    ("pending", "stop", Observation("failed", error="no disk"), "terminated"),
    ("running", "stop", Observation("shutoff", stopped_by_guest=True), "stopped"),
    ("running", "terminate", Observation("shutoff", stopped_by_guest=True), "shutting-down"),
    ("running", "stop", Observation("shutoff"), None),
    ("running", "stop", Observation("absent"), None),
    ("stopping", "stop", Observation("running"), None),
    ("stopping", "stop", Observation("shutoff"), "stopped"),
    ("stopping", "stop", Observation("absent"), "stopped"),
    ("shutting-down", "stop", Observation("running"), None),
    ("shutting-down", "stop", Observation("absent"), "terminated"),
    ("stopped", "stop", Observation("running"), None),
])
def test_agent_observations(state: str, behavior: str, seen: Observation, expected: str | None) -> None:
    transition = lc.observe(state, behavior, seen)
    assert (transition.state if transition else None) == expected
    if expected == "terminated" and state == "pending":
        assert transition is not None and transition.reason == lc.LAUNCH_FAILED
    if expected in ("stopped", "shutting-down") and seen.stopped_by_guest:
        assert transition is not None and transition.reason == lc.GUEST_SHUTDOWN


# --- through the API ----------------------------------------------------------------------------------------------


def host_of(ic: InstanceCloud, instance_id: str) -> str:
    table = instance_state.instances
    with ic.db.read() as conn:
        return conn.execute(select(table.c.host_id).where(table.c.instance_id == instance_id)).scalar_one()


def enis(ic: InstanceCloud, instance_id: str) -> list[dict]:
    table = state.network_interfaces
    with ic.db.read() as conn:
        return [dict(r) for r in conn.execute(select(table).where(table.c.instance_id == instance_id)).mappings()]


def test_full_life_with_interfaces_following_the_instance(ic: InstanceCloud) -> None:
    instance = ic.run()[0]
    instance_id = instance["InstanceId"]
    host = host_of(ic, instance_id)
    assert instance["State"]["Name"] == "pending" and instance["StateReason"]["Code"] == "pending"
    [eni] = enis(ic, instance_id)
    assert eni["host_id"] == host and eni["port"]["kind"] == "tap" and eni["port"]["port"].startswith("cl-t")
    assert ic.report(host, {instance_id: "running"}) == [instance_id]
    running = ic.instance(instance_id)
    assert running["State"]["Name"] == "running" and "StateReason" not in running
    ic.call("StopInstances", {"InstanceIds": [instance_id]})
    assert ic.instance(instance_id)["State"]["Name"] == "stopping"
    assert enis(ic, instance_id)[0]["host_id"] == host  # still plugged while the guest shuts down
    ic.report(host, {instance_id: "shutoff"})
    stopped = ic.instance(instance_id)
    assert stopped["State"]["Name"] == "stopped"
    assert stopped["StateTransitionReason"].startswith("User initiated (")
    assert enis(ic, instance_id)[0]["host_id"] is None and enis(ic, instance_id)[0]["port"] is None
    ic.call("ModifyInstanceAttribute", {"InstanceId": instance_id, "InstanceType": {"Value": "t3.small"}})
    assert ic.instance(instance_id)["InstanceType"] == "t3.small"
    started = ic.call("StartInstances", {"InstanceIds": [instance_id]})["StartingInstances"][0]
    assert (started["PreviousState"]["Name"], started["CurrentState"]["Name"]) == ("stopped", "pending")
    assert enis(ic, instance_id)[0]["host_id"] == host
    ic.report(host, {instance_id: "running"})
    ic.refused("ModifyInstanceAttribute", {"InstanceId": instance_id, "InstanceType": {"Value": "t3.micro"}},
               "IncorrectInstanceState")
    ic.call("RebootInstances", {"InstanceIds": [instance_id]})
    ic.call("TerminateInstances", {"InstanceIds": [instance_id]})
    assert ic.instance(instance_id)["State"]["Name"] == "shutting-down"
    ic.report(host, {instance_id: "running"})
    assert ic.instance(instance_id)["State"]["Name"] == "shutting-down"
    ic.report(host, {})  # complete report without it: nothing left on the host
    gone = ic.instance(instance_id)
    assert gone["State"]["Name"] == "terminated" and gone["NetworkInterfaces"] == [] and \
        gone["BlockDeviceMappings"] == []
    assert enis(ic, instance_id) == []
    ic.refused("StartInstances", {"InstanceIds": [instance_id]}, "IncorrectInstanceState")


def test_guest_shutdown_follows_the_shutdown_behavior(ic: InstanceCloud) -> None:
    keep, drop = ic.run()[0]["InstanceId"], ic.run(InstanceInitiatedShutdownBehavior="terminate")[0]["InstanceId"]
    for instance_id in (keep, drop):
        host = host_of(ic, instance_id)
        ic.report(host, {instance_id: "running"}, complete=False)
        ic.report(host, {instance_id: "shutoff"}, complete=False, by_guest=True)
    assert ic.instance(keep)["State"]["Name"] == "stopped"
    assert ic.instance(keep)["StateReason"]["Code"] == "Client.InstanceInitiatedShutdown"
    assert ic.instance(drop)["State"]["Name"] == "shutting-down"


def test_failed_launch_terminates_with_server_internal_error(ic: InstanceCloud) -> None:
    instance_id = ic.run()[0]["InstanceId"]
    from controller.ec2.instances.actions import apply_report

    apply_report(ic.cloud, host_of(ic, instance_id), {instance_id: Observation("failed", error="no space")},
                 complete=False)
    failed = ic.instance(instance_id)
    assert failed["State"]["Name"] == "terminated" and failed["StateReason"]["Code"] == "Server.InternalError"


def test_reports_from_another_host_change_nothing(ic: InstanceCloud) -> None:
    instance_id = ic.run()[0]["InstanceId"]
    other = next(h for h in ic.hosts if h != host_of(ic, instance_id))
    assert ic.report(other, {instance_id: "running"}) == []
    assert ic.instance(instance_id)["State"]["Name"] == "pending"


def test_a_host_that_is_down_does_not_hold_up_stop_or_terminate(ic: InstanceCloud) -> None:
    first, second = (ic.run()[0]["InstanceId"] for _ in range(2))
    for instance_id in (first, second):
        ic.report(host_of(ic, instance_id), {instance_id: "running"}, complete=False)
    table = hosts_state.hosts
    with ic.db.begin() as conn:
        conn.execute(table.update().values(last_heartbeat=dt.datetime(2020, 1, 1, tzinfo=dt.UTC)))
    stopped = ic.call("StopInstances", {"InstanceIds": [first]})["StoppingInstances"][0]
    assert stopped["CurrentState"]["Name"] == "stopped"
    terminated = ic.call("TerminateInstances", {"InstanceIds": [second]})["TerminatingInstances"][0]
    assert terminated["CurrentState"]["Name"] == "terminated"
    ic.refused("StartInstances", {"InstanceIds": [first]}, "InsufficientInstanceCapacity")


def test_protections_and_unknown_ids(ic: InstanceCloud) -> None:
    instance_id = ic.run(DisableApiTermination=True)[0]["InstanceId"]
    ic.refused("TerminateInstances", {"InstanceIds": [instance_id]}, "OperationNotPermitted")
    ic.call("ModifyInstanceAttribute", {"InstanceId": instance_id, "DisableApiTermination": {"Value": False}})
    ic.call("TerminateInstances", {"InstanceIds": [instance_id]})
    error = ic.refused("StopInstances", {"InstanceIds": ["i-0123456789abcdef0"]}, "InvalidInstanceID.NotFound")
    assert error.message == "The instance ID 'i-0123456789abcdef0' does not exist"
    ic.refused("StopInstances", {"InstanceIds": ["instance-1"]}, "InvalidInstanceID.Malformed")
    ic.refused("StopInstances", {"InstanceIds": [instance_id]}, "InvalidInstanceID.NotFound", account=ic.management)


def test_start_needs_room_on_the_instance_s_own_host(ic: InstanceCloud) -> None:
    instance_id = ic.run(Placement={"AvailabilityZone": "home-1a"})[0]["InstanceId"]
    host = host_of(ic, instance_id)
    ic.report(host, {instance_id: "running"}, complete=False)
    ic.call("StopInstances", {"InstanceIds": [instance_id]})
    ic.report(host, {instance_id: "shutoff"}, complete=False)
    # fill the host while the instance is stopped: 8 GiB host, 1 GiB reserved, r5.large is 4 GiB here
    ic.run(InstanceType="r5.large", Placement={"AvailabilityZone": "home-1a"})
    ic.call("ModifyInstanceAttribute", {"InstanceId": instance_id, "InstanceType": {"Value": "r5.large"}})
    ic.refused("StartInstances", {"InstanceIds": [instance_id]}, "InsufficientInstanceCapacity")
    ic.call("ModifyInstanceAttribute", {"InstanceId": instance_id, "InstanceType": {"Value": "t3.micro"}})
    assert ic.call("StartInstances", {"InstanceIds": [instance_id]})["StartingInstances"][0]["CurrentState"][
        "Name"] == "pending"
