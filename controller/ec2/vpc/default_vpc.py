"""Every account's default VPC, made on the account's first VPC call as AWS has it ready.

The default VPC is 172.31.0.0/16 with one /20 default subnet per availability zone (in
the configured zones' order: 172.31.0.0/20, 172.31.16.0/20, ...) that maps public IPs on
launch, an attached internet gateway, the main route table sending 0.0.0.0/0 to it, the
default network ACL and the default security group. It is made once per account:
deleting it does not bring it back (CreateDefaultVpc does).
"""

from __future__ import annotations

from sqlalchemy import Connection, RowMapping, insert, select

from controller.api import RequestContext
from controller.config import Config
from controller.ec2.vpc import cidrs, provision, state
from controller.state import utcnow

DEFAULT_VPC_CIDR = "172.31.0.0/16"
DEFAULT_SUBNET_PREFIX = 20


def ensure_default_vpc(ctx: RequestContext) -> None:
    """Make the caller's default VPC unless it was made before: after the first call, one primary-key
    read (the row says it was made; no process keeps its own memory of that, so every process agrees)."""
    account = ctx.account_id
    db = ctx.cloud.db
    if not account:
        return
    defaults = state.account_defaults
    with db.read() as conn:
        done = conn.execute(select(defaults.c.account_id).where(defaults.c.account_id == account)).first()
    if not done:
        with state.write(db) as conn:
            if not conn.execute(select(defaults.c.account_id).where(defaults.c.account_id == account)).first():
                vpc = create_default_vpc(conn, ctx.cloud.config, account)
                conn.execute(insert(defaults).values(account_id=account, default_vpc_id=vpc["vpc_id"],
                                                     created_at=utcnow()))


def create_default_vpc(conn: Connection, config: Config, account: str) -> RowMapping:
    """The default VPC's rows, as AWS lays them out."""
    now = utcnow()
    vpc = provision.create_vpc(conn, account, DEFAULT_VPC_CIDR, is_default=True, now=now)
    zones = config.availability_zones
    for zone, block in zip(zones, cidrs.subnet_zone_blocks(DEFAULT_VPC_CIDR, DEFAULT_SUBNET_PREFIX, len(zones)),
                           strict=True):
        provision.create_subnet(conn, account, vpc, block, zone, map_public_ip=True, default_for_az=True, now=now)
    igw_id = provision.create_internet_gateway(conn, account, vpc_id=vpc["vpc_id"], now=now)
    provision.add_route(conn, provision.main_route_table(conn, vpc["vpc_id"]), provision.ALL_IPV4, "gateway",
                        igw_id)
    return vpc
