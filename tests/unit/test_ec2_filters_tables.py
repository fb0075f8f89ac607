"""Every Describe operation's filter table against the names the EC2 API Reference documents for it.

``tests/data/ec2_filters/documented.json`` holds, per operation, the filter names listed under
``Filter.N`` on its reference page, plus the few older names Cloudlet also takes (``also_accepted``,
each with its reason). A table must cover the documented names exactly, and every member path it
reads must exist in the operation's output shape (so a typo cannot make a filter silently match
nothing). Run as a script to print the implemented/documented counts per operation:

    .venv/bin/python -m tests.unit.test_ec2_filters_tables
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from botocore.model import ListShape, Shape, StructureShape

from controller.ec2 import regions, tags
from controller.ec2.filters import FilterFields
from controller.ec2.instances import filters as instance_filters
from controller.ec2.instances import (
    image_filters,
    instance_profiles,
    keypairs,
    placement,
    spot_requests,
    type_filters,
)
from controller.ec2.launch_templates import templates as launch_templates
from controller.ec2.launch_templates import versions as launch_template_versions
from controller.ec2.service import api as ec2_api
from controller.ec2.volumes import modifications, snapshots, volumes
from controller.ec2.vpc import (
    addresses,
    dhcp_options,
    gateways,
    instance_connect_endpoints,
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
from controller.ec2.vpc.reachability import analyses as reachability_analyses
from controller.ec2.vpc.reachability import paths as reachability_paths
from controller.protocol.models import load_service_model

DOCUMENTED = json.loads((Path(__file__).parents[1] / "data" / "ec2_filters" / "documented.json").read_text())

#: Each served Describe operation's one filter table.
TABLES: dict[str, FilterFields] = {
    "DescribeAddresses": addresses.ADDRESS_FILTERS,
    "DescribeAvailabilityZones": regions.ZONE_FILTERS,
    "DescribeDhcpOptions": dhcp_options.FILTERS,
    "DescribeEgressOnlyInternetGateways": gateways.EGRESS_ONLY_GATEWAY_FILTERS,
    "DescribeHosts": placement.HOST_FILTERS,
    "DescribeIamInstanceProfileAssociations": instance_profiles.ASSOCIATION_FILTERS,
    "DescribeImages": image_filters.IMAGE_FILTERS,
    "DescribeInstanceConnectEndpoints": instance_connect_endpoints.FILTERS,
    "DescribeInstanceStatus": instance_filters.INSTANCE_STATUS_FILTERS,
    "DescribeInstanceTypeOfferings": type_filters.OFFERING_FILTERS,
    "DescribeInstanceTypes": type_filters.INSTANCE_TYPE_FILTERS,
    "DescribeInstances": instance_filters.INSTANCE_FILTERS,
    "DescribeInternetGateways": gateways.INTERNET_GATEWAY_FILTERS,
    "DescribeKeyPairs": keypairs.KEY_PAIR_FILTERS,
    "DescribeLaunchTemplateVersions": launch_template_versions.VERSION_FILTERS,
    "DescribeLaunchTemplates": launch_templates.TEMPLATE_FILTERS,
    "DescribeManagedPrefixLists": prefix_lists.PREFIX_LIST_FILTERS,
    "DescribeNatGateways": nat_gateways.NAT_FILTERS,
    "DescribeNetworkAcls": network_acls.ACL_FILTERS,
    "DescribeNetworkInsightsAnalyses": reachability_analyses.ANALYSIS_FILTERS,
    "DescribeNetworkInsightsPaths": reachability_paths.PATH_FILTERS,
    "DescribeNetworkInterfaces": network_interfaces.INTERFACE_FILTERS,
    "DescribePlacementGroups": placement.PLACEMENT_GROUP_FILTERS,
    "DescribePrefixLists": vpc_endpoints.PREFIX_LIST_FILTERS,
    "DescribeRegions": regions.REGION_FILTERS,
    "DescribeRouteTables": route_tables.ROUTE_TABLE_FILTERS,
    "DescribeSecurityGroupRules": security_groups.RULE_FILTERS,
    "DescribeSecurityGroups": security_groups.GROUP_FILTERS,
    "DescribeSnapshots": snapshots.SNAPSHOT_FILTERS,
    "DescribeSpotInstanceRequests": spot_requests.FILTERS,
    "DescribeSubnets": subnets.SUBNET_FILTERS,
    "DescribeTags": tags.TAG_FILTERS,
    "DescribeVolumeStatus": volumes.STATUS_FILTERS,
    "DescribeVolumes": volumes.VOLUME_FILTERS,
    "DescribeVolumesModifications": modifications.MODIFICATION_FILTERS,
    "DescribeVpcEndpointServices": vpc_endpoints.SERVICE_FILTERS,
    "DescribeVpcEndpoints": vpc_endpoints.ENDPOINT_FILTERS,
    "DescribeVpcPeeringConnections": peering.PEERING_FILTERS,
    "DescribeVpcs": vpcs.VPC_FILTERS,
}

#: Served by the generic tag filters, not by a table entry.
TAG_FILTERS = {"tag:<key>", "tag-key", "tag-value"}


def documented(operation: str) -> set[str]:
    return set(DOCUMENTED["operations"][operation]["filters"])


def implemented(operation: str) -> set[str]:
    """The documented names this cloud's table (or the generic tag filters) answers."""
    return {name for name in documented(operation) if name in TABLES[operation] or name in TAG_FILTERS}


def test_every_served_describe_operation_with_filters_has_a_table() -> None:
    model = load_service_model("ec2")
    with_filters = {name for name in ec2_api.operations if name.startswith("Describe")
                    and {"Filters", "Filter"} & set(model.operation_model(name).input_shape.members)}
    assert with_filters == set(TABLES) == set(DOCUMENTED["operations"])


@pytest.mark.parametrize("operation", sorted(TABLES))
def test_the_table_is_the_documented_list(operation: str) -> None:
    """Every documented name is answered, and nothing else but the older names listed with a reason."""
    entry = DOCUMENTED["operations"][operation]
    assert implemented(operation) == documented(operation)
    assert set(TABLES[operation]) == (documented(operation) | set(entry.get("also_accepted", []))) - TAG_FILTERS


#: Where each operation's items are in its output.
ITEMS = {"DescribeInstances": ("Reservations", "Instances"), "DescribeVpcEndpointServices": ("ServiceDetails",)}
#: Members the handlers add for filters only (never on the wire), and the shape they stand for.
INTERNAL = {"_interfaces": "NetworkInterface", "_owner": None, "_reservation": None, "_requester": None}


def item_shape(operation: str) -> StructureShape:
    model = load_service_model("ec2")
    shape: Shape = model.operation_model(operation).output_shape
    path = ITEMS.get(operation) or [n for n, m in shape.members.items() if isinstance(m, ListShape)][:1]
    for member in path:
        shape = shape.members[member]
        assert isinstance(shape, ListShape)
        shape = shape.member
    assert isinstance(shape, StructureShape)
    return shape


def missing_members(shape: Shape, expression: str) -> list[str]:
    """The members a simple JMESPath (``A.B[].C``, ``A.B[?Name=='x'].C``) names that ``shape`` lacks."""
    model = load_service_model("ec2")
    missing = []
    for segment in re.sub(r"\[\?[^\]]*\]", "[]", expression).split("."):
        name = segment.removesuffix("[]")
        while isinstance(shape, ListShape):
            shape = shape.member
        if name in INTERNAL:
            if INTERNAL[name] is None:
                return missing
            shape = model.shape_for(INTERNAL[name])
            continue
        if not isinstance(shape, StructureShape) or name not in shape.members:
            return [*missing, name]
        shape = shape.members[name]
    return missing


@pytest.mark.parametrize("operation", sorted(TABLES))
def test_every_path_names_members_of_the_output(operation: str) -> None:
    shape = item_shape(operation)
    wrong = {name: missing_members(shape, path) for name, path in TABLES[operation].items()
             if isinstance(path, str) and missing_members(shape, path)}
    assert wrong == {}


def counts() -> list[tuple[str, int, int, int]]:
    """(operation, implemented, documented, also accepted) for every served Describe operation."""
    return [(op, len(implemented(op)), len(documented(op)),
             len(DOCUMENTED["operations"][op].get("also_accepted", []))) for op in sorted(TABLES)]


def main() -> None:
    rows: list[Any] = counts()
    print(f"{'operation':42} implemented/documented  (+older names also taken)")
    for operation, done, listed, extra in rows:
        print(f"{operation:42} {done:3}/{listed:<3}" + (f"  (+{extra})" if extra else ""))
    print(f"{'total':42} {sum(r[1] for r in rows):3}/{sum(r[2] for r in rows)}")


if __name__ == "__main__":
    main()
