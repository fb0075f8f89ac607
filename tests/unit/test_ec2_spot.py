"""Spot instances: spare capacity, reclaimed with a notice in IMDS when an on-demand launch needs it."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from controller.ec2.instances import spot_interruptions
from controller.ec2.instances.metadata import metadata_for_interface
from controller.errors import ServiceError
from controller.state import utcnow
from tests.unit.harness import Clouds

SPOT = {"InstanceMarketOptions": {"MarketType": "spot", "SpotOptions": {"MaxPrice": "0.05"}}}




def test_a_spot_launch_is_a_fulfilled_request_shown_on_the_instance(clouds: Clouds) -> None:
    ic = clouds.instances()
    ic.add_host("h1")
    instance = ic.run(**SPOT)[0]
    assert instance["InstanceLifecycle"] == "spot"
    requests = ic.call("DescribeSpotInstanceRequests", {})["SpotInstanceRequests"]
    assert [(r["SpotInstanceRequestId"], r["InstanceId"], r["State"], r["Status"]["Code"], r["Type"])
            for r in requests] == [(instance["SpotInstanceRequestId"], instance["InstanceId"], "active", "fulfilled",
                                    "one-time")]
    assert ic.instance(instance["InstanceId"])["SpotInstanceRequestId"] == instance["SpotInstanceRequestId"]
    cancelled = ic.call("CancelSpotInstanceRequests", {"SpotInstanceRequestIds": [instance["SpotInstanceRequestId"]]})
    assert cancelled["CancelledSpotInstanceRequests"][0]["State"] == "cancelled"
    assert ic.instance(instance["InstanceId"])["State"]["Name"] == "pending"  # cancelling keeps the instance


def test_bad_market_options_are_refused() -> None:
    from controller.ec2.instances.spot import spot_options

    for options in ({"MarketType": "capacity-block"},
                    {"SpotOptions": {"SpotInstanceType": "persistent"}},
                    {"SpotOptions": {"MaxPrice": "cheap"}},
                    {"SpotOptions": {"InstanceInterruptionBehavior": "hibernate"}}):
        with pytest.raises(ServiceError) as raised:
            spot_options({"InstanceMarketOptions": options})
        assert raised.value.code == "InvalidParameterValue"


def test_an_on_demand_launch_reclaims_spot_capacity_with_a_notice_then_terminates_it(clouds: Clouds) -> None:
    ic = clouds.instances(instance_memory_scale=1.0)
    ic.add_host("h1", vcpus=2, memory_mib=1024 + 1024 + 48 + 10)  # room for one t3.micro (1 GiB + overhead)
    spot = ic.run(**SPOT)[0]
    with pytest.raises(ServiceError) as raised:  # spot never interrupts spot
        ic.run(**SPOT)
    assert raised.value.code == "InsufficientInstanceCapacity"
    on_demand = ic.run()[0]
    metadata = metadata_for_interface(ic.cloud, spot["NetworkInterfaces"][0]["NetworkInterfaceId"])
    action = json.loads(metadata["meta_data"]["spot"]["instance-action"])
    assert action["action"] == "terminate"
    deadline = dt.datetime.strptime(action["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    assert 110 <= (deadline - utcnow()).total_seconds() <= 121
    assert "rebalance" in metadata["meta_data"]["events"]["recommendations"]
    request = ic.call("DescribeSpotInstanceRequests", {})["SpotInstanceRequests"][0]
    assert request["Status"]["Code"] == "marked-for-termination"
    assert spot_interruptions.interrupt_due(ic.cloud) == []  # not before the deadline
    assert spot_interruptions.interrupt_due(ic.cloud, utcnow() + dt.timedelta(seconds=121)) == [spot["InstanceId"]]
    described = ic.instance(spot["InstanceId"])
    assert described["State"]["Name"] == "shutting-down"
    assert described["StateReason"]["Code"] == "Server.SpotInstanceTermination"
    request = ic.call("DescribeSpotInstanceRequests", {"Filters": [{"Name": "state", "Values": ["closed"]}]})
    assert request["SpotInstanceRequests"][0]["Status"]["Code"] == "instance-terminated-no-capacity"
    assert ic.instance(on_demand["InstanceId"])["State"]["Name"] == "pending"


def test_a_request_whose_instance_its_owner_terminates_is_closed(clouds: Clouds) -> None:
    ic = clouds.instances()
    ic.add_host("h1")
    instance = ic.run(**SPOT)[0]
    assert spot_interruptions.interrupt_due(ic.cloud) == []
    ic.call("TerminateInstances", {"InstanceIds": [instance["InstanceId"]]})
    spot_interruptions.interrupt_due(ic.cloud)
    request = ic.call("DescribeSpotInstanceRequests", {})["SpotInstanceRequests"][0]
    assert (request["State"], request["Status"]["Code"]) == ("closed", "instance-terminated-by-user")
