"""VPC endpoints in the desired network document (pure: the compiler's rows in, document parts out).

``controller.ec2.vpc.desired_network`` calls these from its compiler:

- :func:`vpc_endpoints` fills ``Vpc.endpoints``: each gateway endpoint that carries traffic with the route
  tables routing to it, each interface endpoint's ENIs with their primary address (the agent relays the
  API behind them), and each EC2 Instance Connect Endpoint's ENI (tunnels start behind it);
- :func:`managed_prefix_list` gives the CIDRs of an AWS-managed prefix list (the S3 one: the API address),
  so ``pl-… -> vpce-…`` routes and security group rules naming it expand like customer lists;
- :func:`dns_records` gives the VPC resolver the names of interface endpoints: the regional and zonal
  ``vpce-…`` names, and with private DNS on, the service's own regional name, all to the ENIs' addresses.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from agent.contract import network as model
from controller.config import Config
from controller.ec2.vpc.endpoint_services import (
    FORWARDS,
    INTERFACE,
    endpoint_state,
    managed_prefix_lists,
    services,
)
from controller.hosts.api_access import api_address

Row = Mapping[str, Any]
ENDPOINT_ROUTE = "vpc-endpoint"
#: ``VpcEndpoint.kind`` of an EC2 Instance Connect Endpoint's ENI.
INSTANCE_CONNECT = "instance-connect"
EICE_PREFIX = "eice-"


def _live(endpoints: Sequence[Row], vpc_id: str, now: dt.datetime) -> list[Row]:
    return sorted((e for e in endpoints if e["vpc_id"] == vpc_id and endpoint_state(e, now) in FORWARDS),
                  key=lambda e: e["vpc_endpoint_id"])


def _enis(interfaces: Sequence[Row], addresses: Sequence[Row], endpoint_id: str) -> list[tuple[Row, str]]:
    """An interface endpoint's ENIs with their primary IPv4 address, by ENI id."""
    primary = {a["network_interface_id"]: a["address"] for a in addresses if a["family"] == 4 and a["is_primary"]}
    return [(e, primary[e["network_interface_id"]]) for e in sorted(interfaces, key=lambda e: e["network_interface_id"])
            if e["requester_id"] == endpoint_id and e["network_interface_id"] in primary]


def vpc_endpoints(endpoints: Sequence[Row], routes: Sequence[Row], interfaces: Sequence[Row],
                  addresses: Sequence[Row], vpc_id: str, config: Config, now: dt.datetime) -> list[model.VpcEndpoint]:
    """``Vpc.endpoints`` of ``vpc_id``: one entry per gateway endpoint, one per interface endpoint ENI."""
    found = []
    for endpoint in _live(endpoints, vpc_id, now):
        endpoint_id = endpoint["vpc_endpoint_id"]
        if endpoint["endpoint_type"] != INTERFACE:
            tables = sorted(r["route_table_id"] for r in routes
                            if r["target_kind"] == ENDPOINT_ROUTE and r["target_id"] == endpoint_id)
            found.append(model.VpcEndpoint(id=endpoint_id, kind="gateway", address=api_address(config),
                                           route_table_ids=tables))
            continue
        for eni, address in _enis(interfaces, addresses, endpoint_id):
            found.append(model.VpcEndpoint(id=endpoint_id, kind="interface", address=address,
                                           eni_id=eni["network_interface_id"], subnet_id=eni["subnet_id"]))
    return found + instance_connect_endpoints(interfaces, addresses, vpc_id)


def instance_connect_endpoints(interfaces: Sequence[Row], addresses: Sequence[Row],
                               vpc_id: str) -> list[model.VpcEndpoint]:
    """EC2 Instance Connect Endpoints of ``vpc_id``, kind ``instance-connect``: the agent makes their ENI's
    namespace as for an interface endpoint, but runs no API relay there (tunnels start their TCP there).

    Found by their ENI (requester ``eice-…``, a ``service`` port), which exists exactly while the endpoint
    does: deleting the endpoint deletes it."""
    found = []
    for eni in sorted(interfaces, key=lambda e: e["network_interface_id"]):
        requester = eni["requester_id"] or ""
        if eni["vpc_id"] != vpc_id or not requester.startswith(EICE_PREFIX):
            continue
        for _, address in _enis([eni], addresses, requester):
            found.append(model.VpcEndpoint(id=requester, kind=INSTANCE_CONNECT, address=address,
                                           eni_id=eni["network_interface_id"], subnet_id=eni["subnet_id"]))
    return found


def managed_prefix_list(config: Config, prefix_list_id: str) -> list[str]:
    """The CIDRs of an AWS-managed prefix list ([] for any other id)."""
    return managed_prefix_lists(config).get(prefix_list_id, [])


def dns_records(endpoints: Sequence[Row], interfaces: Sequence[Row], addresses: Sequence[Row], vpc_id: str,
                config: Config, now: dt.datetime) -> list[model.DnsRecord]:
    """The names of ``vpc_id``'s interface endpoints, each to every one of its ENIs' addresses.

    With private DNS, the service's regional name (``sts.home-1.amazonaws.com``) must win over the API
    address the VPC resolver gives every service name otherwise (``HostNetwork.api``)."""
    catalog = services(config)
    records = []
    for endpoint in _live(endpoints, vpc_id, now):
        service = catalog.get(endpoint["service_name"])
        if endpoint["endpoint_type"] != INTERFACE or service is None:
            continue
        head = f"{endpoint['vpc_endpoint_id']}-{endpoint['dns_suffix']}"
        tail = f"{service.prefix}.{config.region}.vpce.{config.service_domain}"
        private = service.private_dns_name(config) if endpoint["private_dns_enabled"] else None
        for eni, address in _enis(interfaces, addresses, endpoint["vpc_endpoint_id"]):
            names = [f"{head}.{tail}", f"{head}-{eni['availability_zone']}.{tail}"] + ([private] if private else [])
            records += [model.DnsRecord(name=name, address=address) for name in names]
    return sorted(records, key=lambda r: (r.name, r.address))
