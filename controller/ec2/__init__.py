"""Amazon EC2: regions and zones, and (later) instances, images and VPC networking."""

from controller.api import ServiceApi

api = ServiceApi("ec2")

from controller.ec2 import (  # noqa: E402,F401  (each module registers its operations on api)
    account_attributes,
    addresses,
    console,
    gateways,
    images,
    instance_actions,
    instance_profiles,
    instance_types,
    instance_views,
    instances,
    instances_desired,
    ipv6,
    keypairs,
    nat_gateways,
    network_acls,
    network_interfaces,
    peering,
    placement,
    prefix_lists,
    regions,
    route_tables,
    security_groups,
    subnets,
    tags,
    vpcs,
)
