"""What the API shows of instances: DescribeInstances, DescribeInstanceStatus, DescribeInstanceAttribute.

Outputs are built in bulk (one query per table for all the instances of a page, never one per instance)
because DescribeInstances must stay fast with a thousand instances in the store. Without filters the
page is cut from the rows before any output is built; with filters every candidate is built and matched,
as EC2's filters may look at any member.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, RowMapping, and_, func, or_, select

from controller.api import Params, RequestContext
from controller.ec2.describe import decode_token, describe, listing, page
from controller.ec2.errors import InvalidParameterCombination, invalid_value, require
from controller.ec2.filters import check_names, sql_glob
from controller.ec2.ids import INSTANCE
from controller.ec2.instances import instance_types, lifecycle, spot
from controller.ec2.instances import state as instance_state
from controller.ec2.instances.filters import INSTANCE_FILTERS, INSTANCE_STATUS_FILTERS, annotate
from controller.ec2.instances.placement import host_is_up
from controller.ec2.operation import arns, vpc_operation
from controller.ec2.tags import tags_of
from controller.ec2.volumes.records import block_device_mappings
from controller.ec2.vpc import state
from controller.ec2.vpc.eni_records import interface_outputs
from controller.state import utcnow

#: Members of an ENI output that belong in an instance's NetworkInterfaces items.
_NIC_MEMBERS = ("Association", "Attachment", "Description", "Groups", "Ipv6Addresses", "MacAddress",
                "NetworkInterfaceId", "OwnerId", "PrivateDnsName", "PrivateIpAddress", "PrivateIpAddresses",
                "SourceDestCheck", "Status", "SubnetId", "VpcId", "InterfaceType")


def visible(table: Any, account: str, listed_for: dt.timedelta, *, by_account: bool = True) -> Any:
    """The condition on instance rows DescribeInstances shows: the account's, terminated ones only for
    ``listed_for`` after the fact.

    ``by_account=False`` keeps SQLite from reading the rows through the account index (it matches no index to
    an expression over a column), so a more selective condition drives the query: a tag filter's ids.
    """
    cutoff = utcnow() - listed_for
    owner = table.c.account_id if by_account else table.c.account_id.concat("")
    return and_(owner == account, or_(table.c.state != lifecycle.TERMINATED, table.c.terminated_at > cutoff))


def listed_rows(conn: Connection, account: str, listed_for: dt.timedelta) -> list[RowMapping]:
    """The account's instances DescribeInstances shows, by id."""
    table = instance_state.instances
    return conn.execute(select(table).where(visible(table, account, listed_for))
                        .order_by(table.c.instance_id)).mappings().all()


def state_output(name: str) -> Params:
    return {"Code": lifecycle.CODES[name], "Name": name}


def instance_outputs(conn: Connection, account: str, region: str, rows: Sequence[RowMapping],
                     service_domain: str) -> list[Params]:
    """DescribeInstances items for ``rows``, in their order (``service_domain`` ends public DNS names)."""
    if not rows:  # an empty page asks nothing of the database
        return []
    instance_ids = [r["instance_id"] for r in rows]
    eni = state.network_interfaces
    eni_rows = conn.execute(select(eni).where(eni.c.instance_id.in_(instance_ids))
                            .order_by(eni.c.device_index)).mappings().all()
    nics: dict[str, list[Params]] = {i: [] for i in instance_ids}
    for row, output in zip(eni_rows, interface_outputs(conn, account, region, eni_rows, service_domain), strict=True):
        nics[row["instance_id"]].append({k: output[k] for k in _NIC_MEMBERS if k in output})
    volumes = block_device_mappings(conn, instance_ids)
    groups = instance_state.placement_groups
    group_ids = {r["placement_group_id"] for r in rows if r["placement_group_id"]}
    group_names = {r[0]: r[1] for r in conn.execute(select(groups.c.group_id, groups.c.group_name)
                                                    .where(groups.c.group_id.in_(group_ids)))} if group_ids else {}
    tags = tags_of(conn, account, instance_ids)
    spot_requests = spot.requests_by_instance(conn, instance_ids)
    return [_instance_output(r, nics[r["instance_id"]], volumes[r["instance_id"]], group_names,
                             tags[r["instance_id"]], spot_requests.get(r["instance_id"])) for r in rows]


def _instance_output(row: RowMapping, nics: list[Params], volumes: list[Params], group_names: dict[str, str],
                     tags: list[dict[str, str]], spot_request: RowMapping | None) -> Params:
    instance_type = instance_types.CATALOGUE.get(row["instance_type"])
    vcpus = instance_type.vcpus if instance_type else 1
    threads = 2 if vcpus > 1 and not row["instance_type"].startswith("t2.") and row["architecture"] == "x86_64" else 1
    placement: Params = {"AvailabilityZone": row["availability_zone"], "Tenancy": row["tenancy"],
                         "GroupName": group_names.get(row["placement_group_id"] or "", "")}
    if row["placement_group_id"] in group_names:
        placement["GroupId"] = row["placement_group_id"]
    if row["partition_number"]:
        placement["PartitionNumber"] = row["partition_number"]
    if row["dedicated_host_id"]:
        placement["HostId"] = row["dedicated_host_id"]
        placement["Affinity"] = row["affinity"] or "default"
    options = row["metadata_options"]
    primary = nics[0] if nics else None
    output: Params = {
        "AmiLaunchIndex": row["ami_launch_index"], "ImageId": row["image_id"], "InstanceId": row["instance_id"],
        "InstanceType": row["instance_type"], "LaunchTime": row["launch_time"],
        "Monitoring": {"State": "enabled" if row["monitoring"] else "disabled"}, "Placement": placement,
        "ProductCodes": [], "PublicDnsName": "", "State": state_output(row["state"]),
        "StateTransitionReason": row["state_transition_reason"], "Architecture": row["architecture"],
        "BlockDeviceMappings": volumes,
        "ClientToken": row["client_token"] or "", "EbsOptimized": row["ebs_optimized"], "EnaSupport": True,
        "Hypervisor": "xen", "NetworkInterfaces": nics, "RootDeviceName": row["root_device_name"],
        "RootDeviceType": row["root_device_type"], "VirtualizationType": "hvm", "Tags": tags,
        "SecurityGroups": primary["Groups"] if primary else [],
        "CpuOptions": {"CoreCount": max(1, vcpus // threads), "ThreadsPerCore": threads},
        "CapacityReservationSpecification": {"CapacityReservationPreference": "open"},
        "HibernationOptions": {"Configured": False}, "EnclaveOptions": {"Enabled": False},
        "MetadataOptions": {"State": "applied", "HttpTokens": options["HttpTokens"],
                            "HttpPutResponseHopLimit": options["HttpPutResponseHopLimit"],
                            "HttpEndpoint": options["HttpEndpoint"], "HttpProtocolIpv6": "disabled",
                            "InstanceMetadataTags": options["InstanceMetadataTags"]},
        "MaintenanceOptions": {"AutoRecovery": "default"}, "BootMode": "legacy-bios",
        "CurrentInstanceBootMode": "legacy-bios", "PlatformDetails": "Linux/UNIX", "UsageOperation": "RunInstances",
        "UsageOperationUpdateTime": row["launch_time"],
    }
    if row["key_name"]:
        output["KeyName"] = row["key_name"]
    if spot_request is not None:
        output.update(InstanceLifecycle="spot", SpotInstanceRequestId=spot_request["spot_instance_request_id"])
    if row["state_reason_code"]:
        output["StateReason"] = {"Code": row["state_reason_code"], "Message": row["state_reason_message"]}
    if row["iam_instance_profile_arn"]:
        output["IamInstanceProfile"] = {"Arn": row["iam_instance_profile_arn"], "Id": row["iam_instance_profile_id"]}
    if primary is not None:
        output.update(SubnetId=row["subnet_id"], VpcId=row["vpc_id"], PrivateIpAddress=primary["PrivateIpAddress"],
                      PrivateDnsName=primary["PrivateDnsName"], SourceDestCheck=primary["SourceDestCheck"])
        association = primary.get("Association")
        if association:
            output["PublicIpAddress"] = association["PublicIp"]
            output["PublicDnsName"] = association["PublicDnsName"]
    else:
        output["PrivateDnsName"] = ""
    return output



def reservations(rows: Sequence[RowMapping], outputs: list[Params]) -> list[Params]:
    """Instances grouped by reservation, in the order their first instance appears."""
    grouped: dict[str, Params] = {}
    for row, output in zip(rows, outputs, strict=True):
        reservation = grouped.setdefault(row["reservation_id"], {
            "ReservationId": row["reservation_id"], "OwnerId": row["account_id"], "Groups": [], "Instances": []})
        reservation["Instances"].append({k: v for k, v in output.items() if not k.startswith("_")})
    return list(grouped.values())


#: Filters answered in SQL, exactly as :data:`INSTANCE_FILTERS` would (EC2's wildcards as SQLite's GLOB):
#: filter name -> column.
_SQL_FILTERS = {"instance-id": "instance_id", "instance-state-name": "state", "instance-type": "instance_type",
                "image-id": "image_id", "availability-zone": "availability_zone", "subnet-id": "subnet_id",
                "vpc-id": "vpc_id", "key-name": "key_name", "reservation-id": "reservation_id",
                "owner-id": "account_id", "tenancy": "tenancy", "root-device-type": "root_device_type"}


def _match(column: Any, values: list[str]) -> Any:
    globs = [sql_glob(v) for v in values]
    return or_(*(column == exact if exact is not None else func.glob(glob, column) for glob, exact in globs))


def _sql_filter(table: Any, account: str, name: str, values: list[str]) -> Any | None:
    """The SQL condition of one filter, or None when it must be matched on the built output."""
    if name in _SQL_FILTERS:
        return _match(table.c[_SQL_FILTERS[name]], values)
    # Tag filters name the tagged ids (``ec2_tags_by_key``) rather than test each instance of the account, so
    # their cost follows the matches, not the instances (a filter matching nothing: flat at 10,000 instances).
    tags = state.tags
    if not _is_tag_filter(name):
        return None
    if name.startswith("tag:"):
        return table.c.instance_id.in_(select(tags.c.resource_id).where(
            tags.c.account_id == account, tags.c.key == name[4:], _match(tags.c.value, values)))
    return table.c.instance_id.in_(select(tags.c.resource_id).where(
        tags.c.account_id == account, _match(tags.c.key, values)))


def _is_tag_filter(name: str) -> bool:
    return name.startswith("tag:") or name == "tag-key"


@vpc_operation("DescribeInstances", resources=arns((INSTANCE, "InstanceIds")))
def describe_instances(ctx: RequestContext, params: Params) -> Params:
    """Ids are checked and filters answered in SQL where they can be; outputs are built for the page only,
    unless a filter needs the built output (then for every candidate, as EC2's filters may look at anything)."""
    check_names(params.get("Filters"), INSTANCE_FILTERS)
    wanted = params.get("InstanceIds") or []
    if wanted and params.get("MaxResults") is not None:
        raise InvalidParameterCombination("The parameter instancesSet cannot be used with the parameter maxResults")
    table = instance_state.instances
    filters = params.get("Filters") or []
    by_tag = any(_is_tag_filter(f.get("Name", "")) for f in filters)
    shown = visible(table, ctx.account_id, dt.timedelta(seconds=ctx.cloud.config.terminated_instance_listed_seconds),
                    by_account=not by_tag)
    conditions, remaining = [shown], []
    for f in filters:
        condition = _sql_filter(table, ctx.account_id, f.get("Name", ""), [str(v) for v in f.get("Values") or []])
        if condition is None:
            remaining.append(f)
        else:
            conditions.append(condition)
    with ctx.cloud.db.read() as conn:
        if wanted:
            present = {r[0] for r in conn.execute(select(table.c.instance_id).where(
                shown, table.c.instance_id.in_(wanted)))}
            missing = [i for i in dict.fromkeys(wanted) if i not in present]
            if missing:
                raise INSTANCE.missing(missing)
            conditions.append(table.c.instance_id.in_(wanted))
        query = select(table.c.instance_id).where(*conditions).order_by(table.c.instance_id)
        if not remaining:  # the page is cut in SQL (keyset: after the token's id), page() checks and cuts again
            if params.get("NextToken"):
                query = query.where(table.c.instance_id > decode_token(params["NextToken"]))
            if isinstance(params.get("MaxResults"), int) and params["MaxResults"] > 0:
                query = query.limit(params["MaxResults"] + 1)
        ids = [{"InstanceId": r[0]} for r in conn.execute(query)]
        if not remaining:
            cut, token = page(ids, params, "InstanceId", (5, 1000))
            rows = _rows(conn, [i["InstanceId"] for i in cut])
            outputs = instance_outputs(conn, ctx.account_id, ctx.region, rows, ctx.cloud.config.service_domain)
        else:
            rows = _rows(conn, [i["InstanceId"] for i in ids])
            outputs = instance_outputs(conn, ctx.account_id, ctx.region, rows, ctx.cloud.config.service_domain)
            annotate(conn, ctx.account_id, ctx.region, rows, outputs, ctx.cloud.config.service_domain)
            outputs, token = describe(outputs, {**params, "Filters": remaining}, key="InstanceId",
                                      fields=INSTANCE_FILTERS, page_limits=(5, 1000))
            by_id = {r["instance_id"]: r for r in rows}
            rows = [by_id[o["InstanceId"]] for o in outputs]
    return listing("Reservations", reservations(rows, outputs), token)


def _rows(conn: Connection, instance_ids: list[str]) -> list[RowMapping]:
    table = instance_state.instances
    if not instance_ids:
        return []
    return conn.execute(select(table).where(table.c.instance_id.in_(instance_ids))
                        .order_by(table.c.instance_id)).mappings().all()


# --- DescribeInstanceStatus ------------------------------------------------------------------------------------------


def _status(row: RowMapping, host_up: bool, booted: bool) -> tuple[str, str]:
    """(system status, instance status): the host's health, and whether the guest has come up (it has
    printed on its console) while it runs."""
    if row["state"] != lifecycle.RUNNING:
        return "not-applicable", "not-applicable"
    if not host_up:
        return "impaired", "insufficient-data"
    return "ok", "ok" if booted else "initializing"


def _check(status: str) -> Params:
    detail = {"ok": "passed", "initializing": "initializing", "impaired": "failed"}.get(status, status)
    return {"Status": status, "Details": [{"Name": "reachability", "Status": detail}]}


@vpc_operation("DescribeInstanceStatus", resources=arns((INSTANCE, "InstanceIds")))
def describe_instance_status(ctx: RequestContext, params: Params) -> Params:
    check_names(params.get("Filters"), INSTANCE_STATUS_FILTERS, tags_key=None)
    wanted = params.get("InstanceIds") or []
    listed_for = dt.timedelta(seconds=ctx.cloud.config.terminated_instance_listed_seconds)
    consoles = instance_state.instance_consoles
    with ctx.cloud.db.read() as conn:
        rows = listed_rows(conn, ctx.account_id, listed_for)
        present = {r["instance_id"] for r in rows}
        missing = [i for i in dict.fromkeys(wanted) if i not in present]
        if missing:
            raise INSTANCE.missing(missing)
        if wanted:
            rows = [r for r in rows if r["instance_id"] in set(wanted)]
        elif not params.get("IncludeAllInstances"):
            rows = [r for r in rows if r["state"] == lifecycle.RUNNING]
        booted = {r[0] for r in conn.execute(select(consoles.c.instance_id).where(
            consoles.c.instance_id.in_([r["instance_id"] for r in rows])))}
        hosts_up = {h: host_is_up(conn, h) for h in {r["host_id"] for r in rows}}
    items = []
    for row in rows:
        system, instance = _status(row, hosts_up[row["host_id"]], row["instance_id"] in booted)
        items.append({"InstanceId": row["instance_id"], "AvailabilityZone": row["availability_zone"],
                      "InstanceState": state_output(row["state"]), "SystemStatus": _check(system),
                      "InstanceStatus": _check(instance), "Events": []})
    listed, token = describe(items, params, key="InstanceId", page_limits=(5, 1000), fields=INSTANCE_STATUS_FILTERS,
                             tags_key=None)
    return listing("InstanceStatuses", listed, token)


# --- DescribeInstanceAttribute ----------------------------------------------------------------------------------------


def caller_instance(conn: Connection, account: str, instance_id: str | None, *, terminated: bool = False) -> RowMapping:
    """One of the caller's instances, or InvalidInstanceID.NotFound (terminated ones only if asked)."""
    table = instance_state.instances
    row = conn.execute(select(table).where(table.c.instance_id == (instance_id or ""),
                                           table.c.account_id == account)).mappings().first()
    if row is None or (row["state"] == lifecycle.TERMINATED and not terminated):
        raise INSTANCE.missing([instance_id or ""])
    return row


def _value(value: Any) -> Params:
    return {"Value": value}


@vpc_operation("DescribeInstanceAttribute", resources=arns((INSTANCE, "InstanceId")))
def describe_instance_attribute(ctx: RequestContext, params: Params) -> Params:
    require(params, "InstanceId", "Attribute")
    attribute = params["Attribute"]
    with ctx.cloud.db.read() as conn:
        row = caller_instance(conn, ctx.account_id, params["InstanceId"], terminated=True)
        output = instance_outputs(conn, ctx.account_id, ctx.region, [row], ctx.cloud.config.service_domain)[0]
    simple = {
        "instanceType": ("InstanceType", lambda: _value(row["instance_type"])),
        "userData": ("UserData", lambda: _value(base64.b64encode(row["user_data"]).decode())
                     if row["user_data"] is not None else {}),
        "disableApiTermination": ("DisableApiTermination", lambda: _value(row["disable_api_termination"])),
        "disableApiStop": ("DisableApiStop", lambda: _value(row["disable_api_stop"])),
        "instanceInitiatedShutdownBehavior": ("InstanceInitiatedShutdownBehavior",
                                              lambda: _value(row["shutdown_behavior"])),
        "rootDeviceName": ("RootDeviceName", lambda: _value(row["root_device_name"])),
        "blockDeviceMapping": ("BlockDeviceMappings", lambda: output["BlockDeviceMappings"]),
        "groupSet": ("Groups", lambda: output["SecurityGroups"]),
        "sourceDestCheck": ("SourceDestCheck", lambda: _value(output.get("SourceDestCheck", True))),
        "ebsOptimized": ("EbsOptimized", lambda: _value(row["ebs_optimized"])),
        "enaSupport": ("EnaSupport", lambda: _value(True)),
        "productCodes": ("ProductCodes", lambda: []),
        "kernel": ("KernelId", dict), "ramdisk": ("RamdiskId", dict),
        "sriovNetSupport": ("SriovNetSupport", dict),
    }
    if attribute not in simple:
        raise invalid_value(attribute, "Attribute")
    member, build = simple[attribute]
    return {"InstanceId": row["instance_id"], member: build()}
