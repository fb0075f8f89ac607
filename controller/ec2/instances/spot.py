"""Spot instances: spare host capacity, given back with two minutes' notice when an on-demand launch needs it.

A private cloud has no spot market, so spot gets the one meaning that survives: a spot instance runs on
capacity nobody else is using. A spot launch is placed only where there is room
(``scheduler.place_reclaiming`` never interrupts for it); an on-demand launch that finds no room counts spot
guests as free and names the ones to interrupt. Each of those gets AWS's notice: from then on IMDS answers
``spot/instance-action`` (``{"action": "terminate", "time": ...}``), ``spot/termination-time`` and a rebalance
recommendation, the request's status becomes ``marked-for-termination`` (or ``-stop``), and at the deadline
:class:`SpotInterrupter` (EC2's start hook) stops or terminates the instance by its interruption behaviour,
with the state reason ``Server.SpotInstanceTermination`` / ``Server.SpotInstanceShutdown``
(``spot_interruptions.py``). The on-demand
instance is placed at once (the host is over its limits for the notice at most).

Every spot instance has a spot instance request (``sir-...``): RunInstances with ``InstanceMarketOptions``
makes a one-time request fulfilled at once, as on AWS.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, insert, select, update

from controller.ec2.errors import InvalidParameterValue
from controller.ec2.ids import SPOT_REQUEST
from controller.ec2.instances import state as instance_state
from controller.ec2.tags import tag_new_resource

log = logging.getLogger("cloudlet.ec2.spot")

BEHAVIOURS = ("terminate", "stop", "hibernate")
#: What the request says while its instance runs, once it is marked, and after the interruption.
FULFILLED = ("fulfilled", "Your spot request is fulfilled.")
MARKED = {"terminate": ("marked-for-termination", "Your spot instance is marked for termination because the "
                        "capacity is needed by an on-demand launch."),
          "stop": ("marked-for-stop", "Your spot instance is marked for stop because the capacity is needed by "
                   "an on-demand launch.")}
INTERRUPTED = {"terminate": ("closed", "instance-terminated-no-capacity", "Your spot instance was terminated "
                             "because there is no spare capacity available for it."),
               "stop": ("disabled", "instance-stopped-no-capacity", "Your spot instance was stopped because there "
                        "is no spare capacity available for it.")}


def spot_options(params: dict[str, Any]) -> dict[str, Any] | None:
    """RunInstances' ``InstanceMarketOptions`` checked as EC2 checks them, or None for an on-demand launch."""
    market = params.get("InstanceMarketOptions")
    if not market:
        return None
    if market.get("MarketType") not in (None, "spot"):
        raise InvalidParameterValue(f"The market type '{market.get('MarketType')}' is not supported: this cloud "
                                    "offers 'spot'.")
    options = market.get("SpotOptions") or {}
    request_type = options.get("SpotInstanceType") or "one-time"
    behaviour = options.get("InstanceInterruptionBehavior") or "terminate"
    if behaviour == "hibernate":
        raise InvalidParameterValue("Hibernation is not supported by this cloud's instances: use 'stop' or "
                                    "'terminate' as the interruption behavior.")
    if request_type == "persistent" and behaviour == "terminate":
        raise InvalidParameterValue("A persistent spot instance request launched by RunInstances must use the "
                                    "'stop' or 'hibernate' interruption behavior.")
    price = options.get("MaxPrice")
    if price is not None:
        try:
            if float(price) <= 0:
                raise ValueError
        except ValueError:
            raise InvalidParameterValue(f"Invalid value '{price}' for MaxPrice: a positive decimal price.") from None
    return {"request_type": request_type, "interruption_behavior": behaviour, "max_price": price,
            "valid_until": options.get("ValidUntil")}


def launch_specification(params: dict[str, Any]) -> dict[str, Any]:
    """The request's ``LaunchSpecification`` as DescribeSpotInstanceRequests shows it, from the launch's parameters."""
    spec: dict[str, Any] = {name: params[name] for name in ("ImageId", "InstanceType", "KeyName", "SubnetId",
                                                              "EbsOptimized") if params.get(name) is not None}
    spec["Monitoring"] = {"Enabled": bool((params.get("Monitoring") or {}).get("Enabled"))}
    zone = (params.get("Placement") or {}).get("AvailabilityZone")
    if zone:
        spec["Placement"] = {"AvailabilityZone": zone}
    groups = [{"GroupId": g} for g in params.get("SecurityGroupIds") or []]
    groups += [{"GroupName": g} for g in params.get("SecurityGroups") or []]
    if groups:
        spec["SecurityGroups"] = groups
    return spec


def record_requests(conn: Connection, account: str, options: dict[str, Any], instances: Iterable[str],
                    instance_type: str, zone: str, specification: dict[str, Any], now: dt.datetime,
                    tag_specifications: list[dict[str, Any]]) -> None:
    """One fulfilled request per instance of a spot launch, tagged by the launch's ``spot-instances-request``
    tag specifications."""
    code, message = FULFILLED
    specs = [s for s in tag_specifications if s.get("ResourceType") == SPOT_REQUEST.resource_type]
    for instance_id in instances:
        request_id = SPOT_REQUEST.new_id()
        tag_new_resource(conn, account, SPOT_REQUEST, request_id, specs)
        conn.execute(insert(instance_state.spot_requests).values(
            spot_instance_request_id=request_id, account_id=account, instance_id=instance_id,
            state="active", status_code=code, status_message=message, status_updated_at=now,
            request_type=options["request_type"], max_price=options["max_price"],
            interruption_behavior=options["interruption_behavior"], availability_zone=zone,
            instance_type=instance_type, launch_specification=specification, valid_until=options["valid_until"],
            created_at=now))


def active_spot_instances(conn: Connection) -> set[str]:
    """Spot instances whose capacity an on-demand launch may still take (not already given notice)."""
    table = instance_state.spot_requests
    return set(conn.execute(select(table.c.instance_id).where(
        table.c.state == "active", table.c.instance_id.is_not(None), table.c.noticed_at.is_(None))).scalars())


def give_notice(conn: Connection, instance_ids: Iterable[str], now: dt.datetime, notice_seconds: int) -> None:
    """Mark the instances for interruption ``notice_seconds`` from now."""
    table = instance_state.spot_requests
    for row in conn.execute(select(table).where(table.c.instance_id.in_(list(instance_ids)))).mappings().all():
        code, message = MARKED["stop" if row["interruption_behavior"] == "stop" else "terminate"]
        conn.execute(update(table).where(table.c.spot_instance_request_id == row["spot_instance_request_id"])
                     .values(noticed_at=now, interrupt_at=now + dt.timedelta(seconds=notice_seconds),
                             status_code=code, status_message=message, status_updated_at=now))
        log.info("spot instance %s interrupted in %ss: an on-demand launch needs its capacity", row["instance_id"],
                 notice_seconds)


def requests_by_instance(conn: Connection, instance_ids: Iterable[str]) -> dict[str, Any]:
    table = instance_state.spot_requests
    wanted = list(instance_ids)
    if not wanted:
        return {}
    return {r["instance_id"]: r for r in conn.execute(select(table).where(table.c.instance_id.in_(wanted))).mappings()}


def metadata_entries(row: Any) -> dict[str, Any]:
    """What IMDS adds for a spot instance: its life cycle and, once noticed, the interruption and rebalance
    notices in AWS's formats."""
    if row is None:
        return {}
    entries: dict[str, Any] = {"instance-life-cycle": "spot"}
    if row["interrupt_at"] is not None:
        when = iso(row["interrupt_at"])
        action = "stop" if row["interruption_behavior"] == "stop" else "terminate"
        entries["spot"] = {"instance-action": json.dumps({"action": action, "time": when}),
                           "termination-time": when}
        entries["rebalance"] = json.dumps({"noticeTime": iso(row["noticed_at"])})
    return entries


def iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
