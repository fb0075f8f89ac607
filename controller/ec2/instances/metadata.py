"""What an instance reads from its metadata service (169.254.169.254), given the interface that asks.

The agent's IMDS listener identifies the caller's interface and asks the controller
(``GET /hosts/<id>/metadata?eni=...`` in ``controller.hosts.rpc``), which calls
:func:`metadata_for_interface`. The tree follows EC2's: instance and AMI ids, type, addresses, MACs and
their per-interface directories, placement, the key pair's public key, security groups, user data, the
instance identity document, and, for an instance with an instance profile, ``iam/info`` and
``iam/security-credentials/<role>``: temporary credentials of the role, minted like an STS role session
named after the instance. A set is reused until ``instance_credentials_refresh_seconds`` before it
expires, then replaced (the old set stays valid until its own expiry, so a guest holding it is never
cut off mid-call).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, RowMapping, delete, insert, select

from controller.api import Principal, RequestContext
from controller.auth.store import ANONYMOUS
from controller.ec2.instances import lifecycle, spot
from controller.ec2.instances import state as instance_state
from controller.ec2.regions import describe_availability_zones
from controller.ec2.tags import tags_of
from controller.ec2.vpc import state
from controller.ec2.vpc.eni_records import private_dns_name, public_dns_name
from controller.ec2_instance_connect.records import active_keys_for
from controller.hosts.api_tls import ca_bundle_pem
from controller.iam.lookup import instance_profile_role
from controller.state import utcnow

if TYPE_CHECKING:
    from controller.cloud import Cloud

#: How long the agent may reuse an answer (credentials shorten it further on the agent side).
TTL_SECONDS = 5
#: States in which an instance is served metadata (its guest may be running).
SERVED = (lifecycle.PENDING, lifecycle.RUNNING, lifecycle.STOPPING)


def zone_id(cloud: Cloud, zone: str) -> str:
    """The zone's id (``hom1-az1``), as DescribeAvailabilityZones names it."""
    ctx = RequestContext(cloud=cloud, service="ec2", operation="DescribeAvailabilityZones", request_id="",
                         region=cloud.config.region, principal=ANONYMOUS)
    zones = describe_availability_zones(ctx, {})["AvailabilityZones"]
    return next((z["ZoneId"] for z in zones if z["ZoneName"] == zone), "")


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def metadata_for_interface(cloud: Cloud, eni_id: str) -> dict[str, Any] | None:
    """The metadata of the instance behind ``eni_id`` (None: no instance there, or not running)."""
    instances = instance_state.instances
    eni = state.network_interfaces
    with cloud.db.read() as conn:
        instance_id = conn.execute(select(eni.c.instance_id).where(eni.c.network_interface_id == eni_id)).scalar()
        row = conn.execute(select(instances).where(instances.c.instance_id == instance_id)).mappings().first() \
            if instance_id else None
        if row is None or row["state"] not in SERVED:
            return None
        tree = _meta_data(conn, cloud, row)
        # EC2 Instance Connect's pushed keys (controller/ec2_instance_connect): while any is active, answers
        # are reused for at most a second, so a key leaves the guest as soon as it expires.
        active = active_keys_for(conn, row["instance_id"], utcnow())
    ttl = TTL_SECONDS
    if active:
        tree["managed-ssh-keys"] = {"active-keys": active}
        ttl = 1
    credentials = role_credentials(cloud, row)
    if credentials is not None:
        tree["iam"]["security-credentials"] = {credentials[0]: credentials[1]}
    return {"meta_data": tree, "user_data": row["user_data"], "ttl_seconds": ttl,
            "dynamic": {"instance-identity": {"document": identity_document(cloud, row, tree["local-ipv4"])}}}


def _interfaces(conn: Connection, row: RowMapping) -> list[dict[str, Any]]:
    """The instance's interfaces with addresses, groups, subnet and VPC blocks, by device index."""
    eni, addresses, subnets, vpcs = state.network_interfaces, state.interface_addresses, state.subnets, state.vpcs
    members, groups = state.interface_groups, state.security_groups
    found = []
    for nic in conn.execute(select(eni, subnets.c.cidr_block.label("subnet_cidr"),
                                   vpcs.c.cidr_block.label("vpc_cidr"),
                                   vpcs.c.enable_dns_support.label("vpc_dns_support"),
                                   vpcs.c.enable_dns_hostnames.label("vpc_dns_hostnames"))
                            .join(subnets, subnets.c.subnet_id == eni.c.subnet_id)
                            .join(vpcs, vpcs.c.vpc_id == eni.c.vpc_id)
                            .where(eni.c.instance_id == row["instance_id"]).order_by(eni.c.device_index)).mappings():
        own = conn.execute(select(addresses.c.address, addresses.c.family).where(
            addresses.c.network_interface_id == nic["network_interface_id"])
            .order_by(addresses.c.is_primary.desc(), addresses.c.address)).all()
        sgs = conn.execute(select(groups.c.group_id, groups.c.group_name).join(
            members, members.c.group_id == groups.c.group_id).where(
            members.c.network_interface_id == nic["network_interface_id"]).order_by(members.c.position)).all()
        eips = state.addresses
        public = [r[0] for r in conn.execute(select(eips.c.public_ip).where(
            eips.c.network_interface_id == nic["network_interface_id"]))]
        if nic["public_ip"]:
            public.insert(0, nic["public_ip"])
        found.append({"row": nic, "ipv4": [a for a, f in own if f == 4], "ipv6": [a for a, f in own if f == 6],
                      "groups": sgs, "public": public})
    return found


def _mac_directory(nic: dict[str, Any], region: str) -> dict[str, Any]:
    row = nic["row"]
    directory: dict[str, Any] = {
        "device-number": str(row["device_index"]), "interface-id": row["network_interface_id"],
        "local-hostname": private_dns_name(region, nic["ipv4"][0]) if nic["ipv4"] else "",
        "local-ipv4s": "\n".join(nic["ipv4"]), "mac": row["mac_address"], "owner-id": row["account_id"],
        "security-group-ids": "\n".join(g[0] for g in nic["groups"]),
        "security-groups": "\n".join(g[1] for g in nic["groups"]), "subnet-id": row["subnet_id"],
        "subnet-ipv4-cidr-block": row["subnet_cidr"], "vpc-id": row["vpc_id"],
        "vpc-ipv4-cidr-block": row["vpc_cidr"], "vpc-ipv4-cidr-blocks": row["vpc_cidr"],
    }
    if nic["public"]:
        directory["public-ipv4s"] = "\n".join(nic["public"])
    if nic["ipv6"]:
        directory["ipv6s"] = "\n".join(nic["ipv6"])
    return directory


def _meta_data(conn: Connection, cloud: Cloud, row: RowMapping) -> dict[str, Any]:
    config = cloud.config
    nics = _interfaces(conn, row)
    primary = nics[0] if nics else None
    local_ipv4 = primary["ipv4"][0] if primary and primary["ipv4"] else ""
    hostname = private_dns_name(config.region, local_ipv4) if local_ipv4 else ""
    root = row["root_device_name"]
    placement: dict[str, Any] = {"availability-zone": row["availability_zone"],
                                 "availability-zone-id": zone_id(cloud, row["availability_zone"]),
                                 "region": config.region}
    if row["placement_group_id"]:
        groups = instance_state.placement_groups
        placement["group-name"] = conn.execute(select(groups.c.group_name).where(
            groups.c.group_id == row["placement_group_id"])).scalar() or ""
    if row["partition_number"]:
        placement["partition-number"] = str(row["partition_number"])
    if row["dedicated_host_id"]:
        placement["host-id"] = row["dedicated_host_id"]
    tree: dict[str, Any] = {
        "ami-id": row["image_id"], "ami-launch-index": str(row["ami_launch_index"]),
        "ami-manifest-path": "(unknown)",
        "block-device-mapping": {"ami": root.rpartition("/")[2], "root": root},
        "events": {"maintenance": {"history": "[]", "scheduled": "[]"}},
        "hostname": hostname, "instance-action": "none", "instance-id": row["instance_id"],
        "instance-life-cycle": "on-demand", "instance-type": row["instance_type"], "local-hostname": hostname,
        "local-ipv4": local_ipv4, "mac": primary["row"]["mac_address"] if primary else "",
        "network": {"interfaces": {"macs": {n["row"]["mac_address"]: _mac_directory(n, config.region)
                                            for n in nics}}},
        "placement": placement, "profile": "default-hvm", "reservation-id": row["reservation_id"],
        "security-groups": "\n".join(g[1] for g in primary["groups"]) if primary else "",
        "services": {"domain": config.service_domain, "partition": config.partition},
        # Not AWS's: the CA of the certificate the API relay serves AWS's names with (the AMIs trust it at boot).
        "cloudlet": {"ca-bundle": ca_bundle_pem(cloud)},
        "iam": {},
    }
    if primary and primary["public"]:
        tree["public-ipv4"] = primary["public"][0]
        if primary["row"]["vpc_dns_support"] and primary["row"]["vpc_dns_hostnames"]:  # as DescribeInstances shows
            tree["public-hostname"] = public_dns_name(config.region, primary["public"][0], config.service_domain)
    if row["public_key"]:
        tree["public-keys"] = {"0": {"openssh-key": row["public_key"] + "\n"}}
    if row["iam_instance_profile_arn"]:
        tree["iam"]["info"] = json.dumps({
            "Code": "Success", "LastUpdated": _iso(utcnow()), "InstanceProfileArn": row["iam_instance_profile_arn"],
            "InstanceProfileId": row["iam_instance_profile_id"]}, indent=2)
    else:
        del tree["iam"]
    spot_entries = spot.metadata_entries(spot.requests_by_instance(conn, [row["instance_id"]]).get(row["instance_id"]))
    if "rebalance" in spot_entries:
        tree["events"]["recommendations"] = {"rebalance": spot_entries.pop("rebalance")}
    tree.update(spot_entries)
    if row["metadata_options"].get("InstanceMetadataTags") == "enabled":
        tags = tags_of(conn, row["account_id"], [row["instance_id"]])[row["instance_id"]]
        tree["tags"] = {"instance": {t["Key"]: t["Value"] for t in tags}}
    return tree


def identity_document(cloud: Cloud, row: RowMapping, private_ip: str) -> str:
    return json.dumps({
        "accountId": row["account_id"], "architecture": row["architecture"],
        "availabilityZone": row["availability_zone"], "billingProducts": None, "devpayProductCodes": None,
        "marketplaceProductCodes": None, "imageId": row["image_id"], "instanceId": row["instance_id"],
        "instanceType": row["instance_type"], "kernelId": None, "pendingTime": _iso(row["launch_time"]),
        "privateIp": private_ip, "ramdiskId": None, "region": cloud.config.region, "version": "2017-09-30"}, indent=2)


# --- the instance profile's credentials -------------------------------------------------------------------------------


def role_credentials(cloud: Cloud, row: RowMapping) -> tuple[str, str] | None:
    """(role name, credentials document) for the instance's profile role; None without one."""
    if not row["iam_instance_profile_id"]:
        return None
    config = cloud.config
    table = instance_state.instance_credentials
    now = utcnow()
    with cloud.db.begin() as conn:
        role = instance_profile_role(conn, row["iam_instance_profile_id"])
        if role is None:
            return None
        current = conn.execute(select(table).where(table.c.instance_id == row["instance_id"])).mappings().first()
        fresh = current is not None and current["role_arn"] == role["arn"] and \
            (current["expires_at"] - now).total_seconds() > config.instance_credentials_refresh_seconds
        credential = cloud.credentials.resolve(current["access_key_id"]) if fresh else None
        if current is None or credential is None:
            current = _mint(conn, cloud, row, role, now)
            credential = None
        token = cloud.secrets.decrypt(current["session_token_encrypted"])
    credential = credential or cloud.credentials.resolve(current["access_key_id"])
    if credential is None:
        return None
    document = {"Code": "Success", "LastUpdated": _iso(current["issued_at"]), "Type": "AWS-HMAC",
                "AccessKeyId": credential.access_key_id, "SecretAccessKey": credential.secret_access_key,
                "Token": token, "Expiration": _iso(current["expires_at"])}
    return role["role_name"], json.dumps(document, indent=2)


def _mint(conn: Connection, cloud: Cloud, row: RowMapping, role: RowMapping, now: dt.datetime) -> dict[str, Any]:
    """A new role session for the instance (session name: the instance id), recorded as current."""
    from controller.sts.limits import new_session_token

    config = cloud.config
    instance_id = row["instance_id"]
    principal = Principal(
        account_id=role["account_id"], kind="assumed-role", name=role["role_name"], session_name=instance_id,
        arn=f"arn:{config.partition}:sts::{role['account_id']}:assumed-role/{role['role_name']}/{instance_id}",
        user_id=f"{role['role_id']}:{instance_id}", role_arn=role["arn"])
    expires_at = now.replace(microsecond=0) + dt.timedelta(seconds=config.instance_credentials_seconds)
    token = new_session_token()
    session = {"role_arn": role["arn"], "role_id": role["role_id"], "session_name": instance_id, "policy": None,
               "policy_arns": [], "tags": {}, "transitive_keys": [], "source_identity": "", "chained": False,
               "mfa_authenticated_at": None, "ec2_instance_id": instance_id}
    key_id, _ = cloud.credentials.create_key(principal, prefix="ASIA", expires_at=expires_at, session_token=token,
                                             session=session, conn=conn)
    record = {"instance_id": instance_id, "role_arn": role["arn"], "access_key_id": key_id,
              "session_token_encrypted": cloud.secrets.encrypt(token), "issued_at": now, "expires_at": expires_at}
    table = instance_state.instance_credentials
    conn.execute(delete(table).where(table.c.instance_id == instance_id))
    conn.execute(insert(table).values(**record))
    return record
