"""The VPC network: its resources and their rules, and the desired network each host's agent applies."""

from controller.ec2.vpc import (  # noqa: F401  (each module registers its operations on controller.ec2's api)
    addresses,
    dhcp_options,
    gateways,
    instance_connect_endpoints,
    ipv6,
    nat_gateways,
    network_acls,
    network_interfaces,
    peering,
    prefix_lists,
    route_tables,
    security_groups,
    subnets,
    vpc_endpoints,
    vpcs,
)
from controller.ec2.vpc.reachability import analyses, paths  # noqa: F401,E402  (the Reachability Analyzer's)
