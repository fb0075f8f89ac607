"""Security groups, network ACLs, prefix lists, peering, and deleting a whole VPC in the right order."""

from __future__ import annotations

import pytest

from tests.unit.harness import ACCOUNT, OTHER_ACCOUNT, Clouds, VpcCloud, snapshot


@pytest.fixture
def cloud(clouds: Clouds) -> VpcCloud:
    return clouds.vpc(nat_gateway_transition_seconds=0.0, rules_per_security_group=6)


def new_vpc(cloud: VpcCloud, cidr: str = "10.0.0.0/16", account: str = ACCOUNT) -> str:
    return cloud.call("CreateVpc", {"CidrBlock": cidr}, account=account)["Vpc"]["VpcId"]


def new_group(cloud: VpcCloud, vpc_id: str, name: str = "web", account: str = ACCOUNT) -> str:
    return cloud.call("CreateSecurityGroup", {"GroupName": name, "Description": f"{name} servers", "VpcId": vpc_id},
                      account=account)["GroupId"]


def group(cloud: VpcCloud, group_id: str, account: str = ACCOUNT) -> dict:
    return cloud.call("DescribeSecurityGroups", {"GroupIds": [group_id]}, account=account)["SecurityGroups"][0]


SSH = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "ssh"}]}


# --- security groups ------------------------------------------------------------------------------------------------


def test_new_groups_allow_all_egress_and_nothing_in(cloud: VpcCloud) -> None:
    vpc_id = new_vpc(cloud)
    created = cloud.call("CreateSecurityGroup", {"GroupName": "web", "Description": "web", "VpcId": vpc_id})
    assert created["SecurityGroupArn"] == f"arn:aws:ec2:home-1:{ACCOUNT}:security-group/{created['GroupId']}"
    shown = group(cloud, created["GroupId"])
    assert shown["IpPermissions"] == []
    assert shown["IpPermissionsEgress"] == [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                                             "Ipv6Ranges": [], "PrefixListIds": [], "UserIdGroupPairs": []}]


def test_group_names_and_duplicates(cloud: VpcCloud) -> None:
    vpc_id = new_vpc(cloud)
    new_group(cloud, vpc_id)
    before = snapshot(cloud)
    cloud.refused("CreateSecurityGroup", {"GroupName": "web", "Description": "d", "VpcId": vpc_id},
                  "InvalidGroup.Duplicate")
    cloud.refused("CreateSecurityGroup", {"GroupName": "default", "Description": "d", "VpcId": vpc_id},
                  "InvalidGroup.Reserved")
    cloud.refused("CreateSecurityGroup", {"GroupName": "sg-1", "Description": "d", "VpcId": vpc_id},
                  "InvalidParameterValue")
    cloud.refused("CreateSecurityGroup", {"GroupName": "x" * 256, "Description": "d", "VpcId": vpc_id},
                  "InvalidParameterValue")
    cloud.refused("CreateSecurityGroup", {"GroupName": "ok", "Description": "d", "VpcId": "vpc-0000000000000000a"},
                  "InvalidVpcID.NotFound")
    assert snapshot(cloud) == before
    # The same name is fine in another VPC, and without VpcId the group goes to the default VPC.
    new_group(cloud, new_vpc(cloud, "10.1.0.0/16"))
    default_vpc = cloud.call("DescribeVpcs", {"Filters": [{"Name": "is-default", "Values": ["true"]}]})["Vpcs"][0]
    in_default = cloud.call("CreateSecurityGroup", {"GroupName": "web", "Description": "d"})["GroupId"]
    assert group(cloud, in_default)["VpcId"] == default_vpc["VpcId"]
    by_name = cloud.call("DescribeSecurityGroups", {"GroupNames": ["web"]})["SecurityGroups"]
    assert [g["GroupId"] for g in by_name] == [in_default]
    cloud.refused("DescribeSecurityGroups", {"GroupNames": ["nope"]}, "InvalidGroup.NotFound")


def test_authorize_revoke_and_the_rule_view(cloud: VpcCloud) -> None:
    vpc_id = new_vpc(cloud)
    web, db = new_group(cloud, vpc_id), new_group(cloud, vpc_id, "db")
    granted = cloud.call("AuthorizeSecurityGroupIngress", {"GroupId": db, "IpPermissions": [
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": web}],
         "Ipv6Ranges": [{"CidrIpv6": "2001:db8::/32"}]}]})
    assert granted["Return"] is True and len(granted["SecurityGroupRules"]) == 2
    rule = next(r for r in granted["SecurityGroupRules"] if "ReferencedGroupInfo" in r)
    assert rule["ReferencedGroupInfo"] == {"GroupId": web, "UserId": ACCOUNT}
    assert rule["SecurityGroupRuleId"].startswith("sgr-") and rule["IsEgress"] is False
    cloud.call("AuthorizeSecurityGroupIngress", {"GroupId": db, "IpProtocol": "icmp", "FromPort": 8, "ToPort": -1,
                                                 "CidrIp": "10.0.0.0/16"})
    shown = group(cloud, db)["IpPermissions"]
    assert shown[0]["UserIdGroupPairs"] == [{"GroupId": web, "UserId": ACCOUNT}]
    assert shown[0]["Ipv6Ranges"] == [{"CidrIpv6": "2001:db8::/32"}]
    assert shown[1] == {"IpProtocol": "icmp", "FromPort": 8, "ToPort": -1, "IpRanges": [{"CidrIp": "10.0.0.0/16"}],
                        "Ipv6Ranges": [], "PrefixListIds": [], "UserIdGroupPairs": []}
    rules = cloud.call("DescribeSecurityGroupRules", {"Filters": [{"Name": "group-id", "Values": [db]}]})
    assert len(rules["SecurityGroupRules"]) == 4  # two ingress above plus the ICMP one, and the default egress
    filtered = cloud.call("DescribeSecurityGroups", {"Filters": [
        {"Name": "ip-permission.group-id", "Values": [web]}]})["SecurityGroups"]
    assert [g["GroupId"] for g in filtered] == [db]
    # Revoke one source of the permission; the other stays.
    revoked = cloud.call("RevokeSecurityGroupIngress", {"GroupId": db, "IpPermissions": [
        {"IpProtocol": "6", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": web}]},
        {"IpProtocol": "udp", "FromPort": 53, "ToPort": 53, "IpRanges": [{"CidrIp": "1.1.1.1/32"}]}]})
    assert [r["ReferencedGroupId"] for r in revoked["RevokedSecurityGroupRules"]] == [web]
    assert revoked["UnknownIpPermissions"][0]["IpRanges"] == [{"CidrIp": "1.1.1.1/32"}]
    cloud.refused("RevokeSecurityGroupIngress", {"GroupId": db, "IpPermissions": [
        {"IpProtocol": "udp", "FromPort": 53, "ToPort": 53, "IpRanges": [{"CidrIp": "1.1.1.1/32"}]}]},
        "InvalidPermission.NotFound")
    by_id = rules["SecurityGroupRules"][-1]["SecurityGroupRuleId"]
    cloud.call("RevokeSecurityGroupEgress", {"GroupId": db, "SecurityGroupRuleIds": [
        r["SecurityGroupRuleId"] for r in rules["SecurityGroupRules"] if r["IsEgress"]]})
    assert group(cloud, db)["IpPermissionsEgress"] == []
    cloud.refused("RevokeSecurityGroupEgress", {"GroupId": db, "SecurityGroupRuleIds": [by_id]},
                  "InvalidSecurityGroupRuleId.NotFound")


def test_duplicate_and_bad_rules_change_nothing(cloud: VpcCloud) -> None:
    vpc_id = new_vpc(cloud)
    web = new_group(cloud, vpc_id)
    cloud.call("AuthorizeSecurityGroupIngress", {"GroupId": web, "IpPermissions": [SSH]})
    before = snapshot(cloud)
    error = cloud.refused("AuthorizeSecurityGroupIngress", {"GroupId": web, "IpPermissions": [
        {**SSH, "IpRanges": [{"CidrIp": "10.9.9.0/24"}, {"CidrIp": "0.0.0.0/0", "Description": "again"}]}]},
        "InvalidPermission.Duplicate")
    assert "peer: 0.0.0.0/0, TCP, from port: 22, to port: 22, ALLOW" in error.message
    cloud.refused("AuthorizeSecurityGroupIngress", {"GroupId": web, "IpPermissions": [
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 70, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]},
        "InvalidParameterValue")
    cloud.refused("AuthorizeSecurityGroupIngress", {"GroupId": web, "IpPermissions": [
        {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": "sg-0000000000000000a"}]}]}, "InvalidGroup.NotFound")
    cloud.refused("AuthorizeSecurityGroupIngress", {"GroupId": web, "IpPermissions": [
        {"IpProtocol": "-1", "PrefixListIds": [{"PrefixListId": "pl-0000000000000000a"}]}]},
        "InvalidPrefixListId.NotFound")
    cloud.refused("AuthorizeSecurityGroupIngress", {"GroupId": "sg-0000000000000000a", "IpPermissions": [SSH]},
                  "InvalidGroup.NotFound")
    other = new_group(cloud, new_vpc(cloud, "10.1.0.0/16"), "elsewhere")
    cloud.refused("AuthorizeSecurityGroupIngress", {"GroupId": web, "IpPermissions": [
        {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": other}]}]}, "InvalidGroup.NotFound")
    after = snapshot(cloud)
    assert after["DescribeSecurityGroups"]["SecurityGroups"] != before["DescribeSecurityGroups"]["SecurityGroups"]
    assert [g for g in after["DescribeSecurityGroups"]["SecurityGroups"] if g["GroupId"] == web] == [
        g for g in before["DescribeSecurityGroups"]["SecurityGroups"] if g["GroupId"] == web]


def test_rules_per_group_limit(cloud: VpcCloud) -> None:
    web = new_group(cloud, new_vpc(cloud))
    ranges = [{"CidrIp": f"10.0.{i}.0/24"} for i in range(6)]
    cloud.call("AuthorizeSecurityGroupIngress", {"GroupId": web, "IpPermissions": [
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": ranges[:5]}]})
    cloud.refused("AuthorizeSecurityGroupIngress", {"GroupId": web, "IpPermissions": [
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "10.1.0.0/24"},
                                                                           {"CidrIp": "10.2.0.0/24"}]}]},
        "RulesPerSecurityGroupLimitExceeded")
    cloud.call("AuthorizeSecurityGroupIngress", {"GroupId": web, "IpPermissions": [
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [ranges[5]]}]})


def test_modify_rules_in_place(cloud: VpcCloud) -> None:
    web = new_group(cloud, new_vpc(cloud))
    rule = cloud.call("AuthorizeSecurityGroupIngress", {"GroupId": web, "IpPermissions": [SSH]})[
        "SecurityGroupRules"][0]["SecurityGroupRuleId"]
    cloud.call("ModifySecurityGroupRules", {"GroupId": web, "SecurityGroupRules": [{
        "SecurityGroupRuleId": rule, "SecurityGroupRule": {"IpProtocol": "tcp", "FromPort": 2222, "ToPort": 2222,
                                                            "CidrIpv4": "10.0.0.0/8"}}]})
    shown = cloud.call("DescribeSecurityGroupRules", {"SecurityGroupRuleIds": [rule]})["SecurityGroupRules"][0]
    assert (shown["FromPort"], shown["CidrIpv4"]) == (2222, "10.0.0.0/8")


def test_groups_in_use_or_referenced_cannot_be_deleted(cloud: VpcCloud) -> None:
    vpc_id = new_vpc(cloud)
    web, db = new_group(cloud, vpc_id), new_group(cloud, vpc_id, "db")
    cloud.call("AuthorizeSecurityGroupIngress", {"GroupId": db, "IpPermissions": [
        {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": web}]}]})
    cloud.refused("DeleteSecurityGroup", {"GroupId": web}, "DependencyViolation")
    default = cloud.call("DescribeSecurityGroups", {"Filters": [{"Name": "vpc-id", "Values": [vpc_id]},
                                                                {"Name": "group-name", "Values": ["default"]}]})
    cloud.refused("DeleteSecurityGroup", {"GroupId": default["SecurityGroups"][0]["GroupId"]}, "CannotDelete")
    assert cloud.call("DeleteSecurityGroup", {"GroupId": db}) == {"Return": True, "GroupId": db}
    cloud.call("DeleteSecurityGroup", {"GroupId": web})
    cloud.refused("DeleteSecurityGroup", {"GroupId": web}, "InvalidGroup.NotFound")


# --- network ACLs -----------------------------------------------------------------------------------------------------


def test_acl_entries_and_associations(cloud: VpcCloud) -> None:
    vpc_id = new_vpc(cloud)
    subnet_id = cloud.call("CreateSubnet", {"VpcId": vpc_id, "CidrBlock": "10.0.1.0/24"})["Subnet"]["SubnetId"]
    acl = cloud.call("CreateNetworkAcl", {"VpcId": vpc_id})["NetworkAcl"]
    acl_id = acl["NetworkAclId"]
    assert not acl["IsDefault"] and [e["RuleNumber"] for e in acl["Entries"]] == [32767, 32767]
    entry = {"NetworkAclId": acl_id, "RuleNumber": 100, "Protocol": "tcp", "RuleAction": "allow", "Egress": False,
             "CidrBlock": "0.0.0.0/0", "PortRange": {"From": 22, "To": 22}}
    cloud.call("CreateNetworkAclEntry", entry)
    cloud.refused("CreateNetworkAclEntry", entry, "NetworkAclEntryAlreadyExists")
    cloud.call("CreateNetworkAclEntry", {**entry, "Egress": True, "PortRange": {"From": 1024, "To": 65535}})
    cloud.call("ReplaceNetworkAclEntry", {**entry, "RuleAction": "deny"})
    cloud.refused("ReplaceNetworkAclEntry", {**entry, "RuleNumber": 101}, "InvalidNetworkAclEntry.NotFound")
    cloud.call("CreateNetworkAclEntry", {**entry, "RuleNumber": 90, "Protocol": "1", "PortRange": None,
                                         "IcmpTypeCode": {"Type": 8, "Code": -1}})
    shown = cloud.call("DescribeNetworkAcls", {"NetworkAclIds": [acl_id]})["NetworkAcls"][0]["Entries"]
    assert [(e["RuleNumber"], e["Egress"], e["Protocol"], e["RuleAction"]) for e in shown] == [
        (100, True, "6", "allow"), (32767, True, "-1", "deny"), (90, False, "1", "allow"),
        (100, False, "6", "deny"), (32767, False, "-1", "deny")]
    assert shown[2]["IcmpTypeCode"] == {"Type": 8, "Code": -1} and shown[3]["PortRange"] == {"From": 22, "To": 22}
    cloud.refused("DeleteNetworkAclEntry", {"NetworkAclId": acl_id, "RuleNumber": 32767, "Egress": False},
                  "InvalidNetworkAclEntry.NotFound")
    cloud.call("DeleteNetworkAclEntry", {"NetworkAclId": acl_id, "RuleNumber": 90, "Egress": False})
    # Move the subnet from the default ACL to this one.
    default = cloud.call("DescribeNetworkAcls", {"Filters": [{"Name": "association.subnet-id",
                                                              "Values": [subnet_id]}]})["NetworkAcls"][0]
    assert default["IsDefault"]
    association = next(a for a in default["Associations"] if a["SubnetId"] == subnet_id)["NetworkAclAssociationId"]
    new_association = cloud.call("ReplaceNetworkAclAssociation", {"AssociationId": association,
                                                                  "NetworkAclId": acl_id})["NewAssociationId"]
    cloud.refused("ReplaceNetworkAclAssociation", {"AssociationId": association, "NetworkAclId": acl_id},
                  "InvalidAssociationID.NotFound")
    cloud.refused("DeleteNetworkAcl", {"NetworkAclId": acl_id}, "DependencyViolation")
    cloud.refused("DeleteNetworkAcl", {"NetworkAclId": default["NetworkAclId"]}, "InvalidParameterValue")
    other_acl = cloud.call("CreateNetworkAcl", {"VpcId": new_vpc(cloud, "10.1.0.0/16")})["NetworkAcl"]["NetworkAclId"]
    cloud.refused("ReplaceNetworkAclAssociation", {"AssociationId": new_association, "NetworkAclId": other_acl},
                  "InvalidParameterValue")
    cloud.call("ReplaceNetworkAclAssociation", {"AssociationId": new_association,
                                                "NetworkAclId": default["NetworkAclId"]})
    cloud.call("DeleteNetworkAcl", {"NetworkAclId": acl_id})


# --- prefix lists ---------------------------------------------------------------------------------------------------


def test_prefix_lists_feed_rules_and_routes(cloud: VpcCloud) -> None:
    created = cloud.call("CreateManagedPrefixList", {
        "PrefixListName": "offices", "AddressFamily": "IPv4", "MaxEntries": 3,
        "Entries": [{"Cidr": "203.0.113.0/28", "Description": "hq"}]})["PrefixList"]
    pl = created["PrefixListId"]
    assert (created["State"], created["Version"]) == ("create-complete", 1)
    cloud.refused("ModifyManagedPrefixList", {"PrefixListId": pl, "CurrentVersion": 7,
                                              "AddEntries": [{"Cidr": "203.0.113.16/28"}]}, "PrefixListVersionMismatch")
    modified = cloud.call("ModifyManagedPrefixList", {"PrefixListId": pl, "CurrentVersion": 1,
                                                      "AddEntries": [{"Cidr": "203.0.113.16/28"}]})["PrefixList"]
    assert modified["Version"] == 2
    cloud.refused("ModifyManagedPrefixList", {"PrefixListId": pl, "CurrentVersion": 2, "AddEntries": [
        {"Cidr": "203.0.113.32/28"}, {"Cidr": "203.0.113.48/28"}]}, "InvalidParameterValue")
    cloud.refused("ModifyManagedPrefixList", {"PrefixListId": pl, "CurrentVersion": 2, "AddEntries": [
        {"Cidr": "2001:db8::/64"}]}, "InvalidParameterValue")
    entries = cloud.call("GetManagedPrefixListEntries", {"PrefixListId": pl})["Entries"]
    assert entries == [{"Cidr": "203.0.113.0/28", "Description": "hq"}, {"Cidr": "203.0.113.16/28"}]
    vpc_id = new_vpc(cloud)
    web = new_group(cloud, vpc_id)
    cloud.call("AuthorizeSecurityGroupIngress", {"GroupId": web, "IpPermissions": [
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "PrefixListIds": [{"PrefixListId": pl}]}]})
    cloud.refused("DeleteManagedPrefixList", {"PrefixListId": pl}, "DependencyViolation")
    cloud.call("RevokeSecurityGroupIngress", {"GroupId": web, "IpPermissions": [
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "PrefixListIds": [{"PrefixListId": pl}]}]})
    igw = cloud.call("CreateInternetGateway")["InternetGateway"]["InternetGatewayId"]
    cloud.call("AttachInternetGateway", {"InternetGatewayId": igw, "VpcId": vpc_id})
    table = cloud.call("CreateRouteTable", {"VpcId": vpc_id})["RouteTable"]["RouteTableId"]
    cloud.call("CreateRoute", {"RouteTableId": table, "DestinationPrefixListId": pl, "GatewayId": igw})
    routes = cloud.call("DescribeRouteTables", {"RouteTableIds": [table]})["RouteTables"][0]["Routes"]
    assert routes[1]["DestinationPrefixListId"] == pl
    cloud.refused("DeleteManagedPrefixList", {"PrefixListId": pl}, "DependencyViolation")
    cloud.call("DeleteRoute", {"RouteTableId": table, "DestinationPrefixListId": pl})
    assert cloud.call("DeleteManagedPrefixList", {"PrefixListId": pl})["PrefixList"]["State"] == "delete-complete"


# --- peering ---------------------------------------------------------------------------------------------------------


def test_peering_across_accounts_is_accepted_by_the_accepter_only(cloud: VpcCloud) -> None:
    mine = new_vpc(cloud, "10.0.0.0/16")
    theirs = new_vpc(cloud, "10.1.0.0/16", account=OTHER_ACCOUNT)
    request = cloud.call("CreateVpcPeeringConnection", {"VpcId": mine, "PeerVpcId": theirs,
                                                        "PeerOwnerId": OTHER_ACCOUNT})["VpcPeeringConnection"]
    pcx = request["VpcPeeringConnectionId"]
    assert request["Status"]["Code"] == "initiating-request"
    assert request["RequesterVpcInfo"]["CidrBlock"] == "10.0.0.0/16"
    seen = cloud.call("DescribeVpcPeeringConnections", {"VpcPeeringConnectionIds": [pcx]},
                      account=OTHER_ACCOUNT)["VpcPeeringConnections"][0]
    assert seen["Status"] == {"Code": "pending-acceptance", "Message": f"Pending Acceptance by {OTHER_ACCOUNT}"}
    assert "CidrBlock" not in seen["AccepterVpcInfo"]
    cloud.refused("AcceptVpcPeeringConnection", {"VpcPeeringConnectionId": pcx}, "OperationNotPermitted")
    table = cloud.call("CreateRouteTable", {"VpcId": mine})["RouteTable"]["RouteTableId"]
    cloud.call("CreateRoute", {"RouteTableId": table, "DestinationCidrBlock": "10.1.0.0/16",
                               "VpcPeeringConnectionId": pcx})
    route = cloud.call("DescribeRouteTables", {"RouteTableIds": [table]})["RouteTables"][0]["Routes"][1]
    assert route["State"] == "blackhole"
    accepted = cloud.call("AcceptVpcPeeringConnection", {"VpcPeeringConnectionId": pcx},
                          account=OTHER_ACCOUNT)["VpcPeeringConnection"]
    assert accepted["Status"]["Code"] == "active" and accepted["AccepterVpcInfo"]["CidrBlock"] == "10.1.0.0/16"
    route = cloud.call("DescribeRouteTables", {"RouteTableIds": [table]})["RouteTables"][0]["Routes"][1]
    assert route["State"] == "active"
    cloud.refused("AcceptVpcPeeringConnection", {"VpcPeeringConnectionId": pcx}, "InvalidStateTransition",
                  account=OTHER_ACCOUNT)
    # Groups of a peered VPC may be referenced; a third account may not even see the connection.
    their_group = new_group(cloud, theirs, "api", account=OTHER_ACCOUNT)
    my_group = new_group(cloud, mine)
    cloud.call("AuthorizeSecurityGroupIngress", {"GroupId": my_group, "IpPermissions": [
        {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": their_group, "UserId": OTHER_ACCOUNT}]}]})
    cloud.refused("DescribeVpcPeeringConnections", {"VpcPeeringConnectionIds": [pcx]},
                  "InvalidVpcPeeringConnectionID.NotFound", account="333333333333")
    cloud.refused("CreateVpcPeeringConnection", {"VpcId": mine, "PeerVpcId": theirs, "PeerOwnerId": OTHER_ACCOUNT},
                  "VpcPeeringConnectionAlreadyExists")
    assert cloud.call("DeleteVpcPeeringConnection", {"VpcPeeringConnectionId": pcx},
                      account=OTHER_ACCOUNT) == {"Return": True}
    route = cloud.call("DescribeRouteTables", {"RouteTableIds": [table]})["RouteTables"][0]["Routes"][1]
    assert route["State"] == "blackhole"


def test_overlapping_or_missing_peers_fail_and_rejection(cloud: VpcCloud) -> None:
    mine = new_vpc(cloud, "10.0.0.0/16")
    overlapping = new_vpc(cloud, "10.0.128.0/17")
    failed = cloud.call("CreateVpcPeeringConnection", {"VpcId": mine, "PeerVpcId": overlapping})[
        "VpcPeeringConnection"]["VpcPeeringConnectionId"]
    shown = cloud.call("DescribeVpcPeeringConnections", {"VpcPeeringConnectionIds": [failed]})[
        "VpcPeeringConnections"][0]
    assert shown["Status"] == {"Code": "failed", "Message": "Failed due to incorrect VPC-ID, Account ID, or "
                                                            "overlapping CIDR range"}
    cloud.refused("AcceptVpcPeeringConnection", {"VpcPeeringConnectionId": failed}, "InvalidStateTransition")
    cloud.refused("CreateVpcPeeringConnection", {"VpcId": mine, "PeerVpcId": "vpc-0000000000000000a"},
                  "InvalidVpcID.NotFound")
    cloud.refused("CreateVpcPeeringConnection", {"VpcId": mine, "PeerVpcId": mine}, "InvalidParameterValue")
    cloud.refused("AcceptVpcPeeringConnection", {"VpcPeeringConnectionId": "pcx-12345678"},
                  "InvalidVpcPeeringConnectionID.NotFound")
    stranger = cloud.call("CreateVpcPeeringConnection", {"VpcId": mine, "PeerVpcId": "vpc-0000000000000000b",
                                                         "PeerOwnerId": OTHER_ACCOUNT})["VpcPeeringConnection"]
    assert cloud.call("DescribeVpcPeeringConnections", {"VpcPeeringConnectionIds": [
        stranger["VpcPeeringConnectionId"]]})["VpcPeeringConnections"][0]["Status"]["Code"] == "failed"
    friend = new_vpc(cloud, "10.2.0.0/16")
    pending = cloud.call("CreateVpcPeeringConnection", {"VpcId": mine, "PeerVpcId": friend})[
        "VpcPeeringConnection"]["VpcPeeringConnectionId"]
    assert cloud.call("RejectVpcPeeringConnection", {"VpcPeeringConnectionId": pending}) == {"Return": True}
    cloud.refused("DeleteVpcPeeringConnection", {"VpcPeeringConnectionId": pending}, "InvalidStateTransition")


# --- the whole VPC, deleted in the wrong order and then the right one ---------------------------------------------------


def build_walkthrough(cloud: VpcCloud) -> dict[str, str]:
    """The issue's VPC: public and private subnets, IGW, NAT gateway with an EIP, tables, a group and an ACL."""
    ids: dict[str, str] = {"vpc": new_vpc(cloud)}
    call = cloud.call
    ids["public"] = call("CreateSubnet", {"VpcId": ids["vpc"], "CidrBlock": "10.0.1.0/24"})["Subnet"]["SubnetId"]
    ids["private"] = call("CreateSubnet", {"VpcId": ids["vpc"], "CidrBlock": "10.0.2.0/24"})["Subnet"]["SubnetId"]
    ids["igw"] = call("CreateInternetGateway")["InternetGateway"]["InternetGatewayId"]
    call("AttachInternetGateway", {"InternetGatewayId": ids["igw"], "VpcId": ids["vpc"]})
    ids["eip"] = call("AllocateAddress")["AllocationId"]
    ids["nat"] = call("CreateNatGateway", {"SubnetId": ids["public"], "AllocationId": ids["eip"]})["NatGateway"][
        "NatGatewayId"]
    ids["public_rt"] = call("CreateRouteTable", {"VpcId": ids["vpc"]})["RouteTable"]["RouteTableId"]
    call("CreateRoute", {"RouteTableId": ids["public_rt"], "DestinationCidrBlock": "0.0.0.0/0",
                         "GatewayId": ids["igw"]})
    call("AssociateRouteTable", {"RouteTableId": ids["public_rt"], "SubnetId": ids["public"]})
    ids["private_rt"] = call("CreateRouteTable", {"VpcId": ids["vpc"]})["RouteTable"]["RouteTableId"]
    call("CreateRoute", {"RouteTableId": ids["private_rt"], "DestinationCidrBlock": "0.0.0.0/0",
                         "NatGatewayId": ids["nat"]})
    ids["private_assoc"] = call("AssociateRouteTable", {"RouteTableId": ids["private_rt"],
                                                        "SubnetId": ids["private"]})["AssociationId"]
    ids["sg"] = new_group(cloud, ids["vpc"])
    call("AuthorizeSecurityGroupIngress", {"GroupId": ids["sg"], "IpPermissions": [SSH]})
    ids["eni"] = call("CreateNetworkInterface", {"SubnetId": ids["private"], "Groups": [ids["sg"]]})[
        "NetworkInterface"]["NetworkInterfaceId"]
    ids["acl"] = call("CreateNetworkAcl", {"VpcId": ids["vpc"]})["NetworkAcl"]["NetworkAclId"]
    return ids


def test_deleting_in_the_wrong_order_is_refused_and_changes_nothing(cloud: VpcCloud) -> None:
    ids = build_walkthrough(cloud)
    before = snapshot(cloud)
    for operation, params in (
            ("DeleteVpc", {"VpcId": ids["vpc"]}), ("DeleteSubnet", {"SubnetId": ids["public"]}),
            ("DeleteSubnet", {"SubnetId": ids["private"]}), ("DeleteSecurityGroup", {"GroupId": ids["sg"]}),
            ("DeleteRouteTable", {"RouteTableId": ids["private_rt"]}),
            ("DetachInternetGateway", {"InternetGatewayId": ids["igw"], "VpcId": ids["vpc"]}),
            ("DeleteInternetGateway", {"InternetGatewayId": ids["igw"]})):
        cloud.refused(operation, params, "DependencyViolation")
    cloud.refused("ReleaseAddress", {"AllocationId": ids["eip"]}, "InvalidIPAddress.InUse")
    assert snapshot(cloud) == before
    for operation, params in (
            ("DeleteNetworkInterface", {"NetworkInterfaceId": ids["eni"]}),
            ("DeleteSecurityGroup", {"GroupId": ids["sg"]}), ("DeleteNatGateway", {"NatGatewayId": ids["nat"]}),
            ("ReleaseAddress", {"AllocationId": ids["eip"]}),
            ("DisassociateRouteTable", {"AssociationId": ids["private_assoc"]}),
            ("DeleteRouteTable", {"RouteTableId": ids["private_rt"]}),
            ("DeleteSubnet", {"SubnetId": ids["public"]}), ("DeleteSubnet", {"SubnetId": ids["private"]}),
            ("DeleteRouteTable", {"RouteTableId": ids["public_rt"]}), ("DeleteNetworkAcl", {"NetworkAclId": ids["acl"]}),
            ("DetachInternetGateway", {"InternetGatewayId": ids["igw"], "VpcId": ids["vpc"]}),
            ("DeleteInternetGateway", {"InternetGatewayId": ids["igw"]}), ("DeleteVpc", {"VpcId": ids["vpc"]})):
        cloud.call(operation, params)
    assert ids["vpc"] not in {v["VpcId"] for v in cloud.call("DescribeVpcs")["Vpcs"]}
    assert all(r["VpcId"] != ids["vpc"] for r in cloud.call("DescribeRouteTables")["RouteTables"])
