"""Amazon EC2: regions and zones, and (later) instances, images and VPC networking."""

from controller.api import ServiceApi

api = ServiceApi("ec2")

from controller.ec2 import (  # noqa: E402,F401  (each module registers its operations on api)
    addresses,
    gateways,
    ipv6,
    nat_gateways,
    network_acls,
    network_interfaces,
    peering,
    prefix_lists,
    regions,
    route_tables,
    security_groups,
    subnets,
    tags,
    vpcs,
)
