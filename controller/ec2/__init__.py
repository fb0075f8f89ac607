"""Amazon EC2: regions and zones, instances on libvirt, AMIs, key pairs and VPC networking."""

from controller.ec2 import (  # noqa: F401  (each module registers its operations on api)
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
from controller.ec2.desired import namespaces_section, network_section
from controller.ec2.instances_desired import instances_section
from controller.ec2.service import api as api  # the service's operations, for controller.cloud

#: What every host runs, in the order its agent applies it: interfaces exist before anything plugs in.
api.host_sections.update(network=network_section, namespaces=namespaces_section, instances=instances_section)
