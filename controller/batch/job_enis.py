"""A job attempt's network interface, as Fargate (awsvpc mode) gives each task one.

When the dispatcher places an attempt of a compute environment that has subnets, it makes a requester-managed
ENI in one of them (the host's zone first) with the environment's security groups (the VPC's default group
when it names none), plugged on the attempt's host. It is an ENI like any other in EC2's tables, so
DescribeNetworkInterfaces shows it (``InterfaceType`` ``interface``, as for Fargate tasks, described by the
task's ENI attachment ``arn:aws:ecs:<region>:<account>:attachment/<uuid>``) and security groups and NACLs
hold for the job's traffic. A public address comes with it when the job definition's
``networkConfiguration.assignPublicIp`` is ENABLED (Fargate) or the subnet maps one on launch (EC2).

The ENI lives exactly as long as its attempt row (``attempts.attempts``): :func:`sweep`, run by every
dispatcher pass, deletes the ENIs whose attempt is gone, whatever ended it (the agent's report, a
TerminateJob, a timeout, a new placement, a lost host), so none can leak.

The agent plugs it like an EFS mount target's (``agent.contract.network.Attachment`` kind ``service``, into the
namespace ``naming.service_netns(prefix, eni_id)``), but on the attempt's host rather than on a host hashed
from the zone: the row carries that host (``desired_network`` honours it).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Column, Connection, Integer, RowMapping, String, Table, delete, insert, select, update

from agent.contract import cidr
from controller.batch import attempts
from controller.ec2 import ids, lookups
from controller.ec2.vpc import eni_records, provision
from controller.ec2.vpc import state as ec2_state
from controller.errors import ServiceError
from controller.hosts.state import host_records
from controller.state import metadata

#: Who made the interfaces (DescribeNetworkInterfaces' ``RequesterId``): Fargate runs the tasks.
REQUESTER = "amazon-ecs"

job_enis = Table(
    "batch_job_enis", metadata,
    Column("network_interface_id", String(32), primary_key=True),
    Column("job_id", String(48), nullable=False, index=True),
    Column("attempt", Integer, nullable=False),
)


def choose_subnet(subnets: Sequence[RowMapping], zone: str) -> RowMapping:
    """The first subnet in the host's zone, else the first (pure)."""
    return next((subnet for subnet in subnets if subnet["availability_zone"] == zone), subnets[0])


def wants_public_ip(environment: Mapping[str, Any], container: Mapping[str, Any], subnet: RowMapping) -> bool:
    """Fargate follows the job definition's ``assignPublicIp``; EC2 resources, the subnet's setting (pure)."""
    if str((environment.get("computeResources") or {}).get("type", "")).startswith("FARGATE"):
        return (container.get("networkConfiguration") or {}).get("assignPublicIp") == "ENABLED"
    return bool(subnet["map_public_ip_on_launch"])


def resolver_address(vpc_cidr: str) -> str:
    """The VPC's Amazon-provided DNS server: its base address plus two (what Fargate tasks use)."""
    return str(cidr.network(vpc_cidr).network_address + 2)


def attach(conn: Connection, config: Any, row: Mapping[str, Any], container: Mapping[str, Any],
           environment: Mapping[str, Any], host_id: str, attempt: int) -> dict[str, Any] | str | None:
    """Make the attempt's ENI; the ``network`` entry of its section (what the agent plugs and configures), None
    when the environment has no subnets (the job runs without a network), or why it cannot have one."""
    subnet_ids = list((environment.get("computeResources") or {}).get("subnets") or [])
    subnets = [found for found in (lookups.find(conn, ids.SUBNET, subnet_id) for subnet_id in subnet_ids)
               if found is not None]
    if not subnets:
        return None
    zone = next((host.zone for host in host_records(conn) if host.host_id == host_id), "")
    subnet = choose_subnet(subnets, zone)
    groups = list((environment.get("computeResources") or {}).get("securityGroupIds") or []) or [
        eni_records.default_group(conn, subnet["vpc_id"])]
    attachment = str(uuid.uuid4())
    description = f"arn:{config.partition}:ecs:{row['region']}:{row['account_id']}:attachment/{attachment}"
    try:
        eni_id, address, mac = eni_records.create_service_interface(
            conn, config, row["account_id"], subnet, requester_id=REQUESTER, description=description,
            group_ids=groups)
    except ServiceError as exc:  # e.g. no free address: what was written of the interface goes, in this transaction
        table = ec2_state.network_interfaces
        for (partial,) in conn.execute(select(table.c.network_interface_id).where(table.c.description == description)):
            eni_records.delete_interface(conn, partial)
        return f"ResourceInitializationError: the task's network interface could not be created: {exc.message}"
    public_ip = None
    if wants_public_ip(environment, container, subnet):
        public_ip = provision.free_public_ip(conn, config.public_pool)
        if public_ip is None:
            eni_records.delete_interface(conn, eni_id)
            return "ResourceInitializationError: there are no public IPv4 addresses left in the pool"
    eni_records.set_service_interface(conn, eni_id, public_ip=public_ip, interface_type="interface")
    table = ec2_state.network_interfaces
    conn.execute(update(table).where(table.c.network_interface_id == eni_id).values(host_id=host_id))
    conn.execute(insert(job_enis).values(network_interface_id=eni_id, job_id=row["job_id"], attempt=attempt))
    vpc = lookups.find(conn, ids.VPC, subnet["vpc_id"])
    prefix = cidr.network(subnet["cidr_block"]).prefixlen
    return {"eni_id": eni_id, "attachment_id": attachment, "subnet_id": subnet["subnet_id"],
            "vpc_id": subnet["vpc_id"], "mac": mac,
            "ipv4": f"{address}/{prefix}", "gateway": cidr.router_address(subnet["cidr_block"]),
            "public_ip": public_ip, "dns": [resolver_address(vpc["cidr_block"])] if vpc is not None else []}


def described(network: Mapping[str, Any] | None) -> list[dict[str, str]]:
    """The attempt's ``container.networkInterfaces`` as DescribeJobs shows them (pure)."""
    if not network:
        return []
    return [{"attachmentId": network["attachment_id"], "privateIpv4Address": network["ipv4"].split("/")[0]}]


def orphans(conn: Connection) -> list[str]:
    """The interfaces whose attempt no longer exists (or is another attempt now)."""
    placed = attempts.attempts
    query = (select(job_enis.c.network_interface_id)
             .join(placed, (placed.c.job_id == job_enis.c.job_id) & (placed.c.attempt == job_enis.c.attempt),
                   isouter=True)
             .where(placed.c.job_id.is_(None)))
    return [row[0] for row in conn.execute(query)]


def sweep(conn: Connection) -> list[str]:
    """Delete the orphaned interfaces (their addresses go back to the subnet and the pool); their ids."""
    gone = orphans(conn)
    for eni_id in gone:
        eni_records.delete_interface(conn, eni_id)
        conn.execute(delete(job_enis).where(job_enis.c.network_interface_id == eni_id))
    return gone
