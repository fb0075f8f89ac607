"""A configured service domain ends every public DNS name EC2 shows, in every answer that shows one.

RunInstances' own answer, DescribeInstances (and its network-interface filters, which read the instance's
interfaces as DescribeNetworkInterfaces items) and DescribeNetworkInterfaces must agree: a name made with
the default domain anywhere would be a name the VPC resolver does not answer.
"""

from __future__ import annotations

from tests.unit.harness import Clouds

DOMAIN = "cloud.lan"


def test_every_answer_ends_public_names_with_the_configured_domain(clouds: Clouds) -> None:
    ic = clouds.instances(service_domain=DOMAIN)
    ic.add_host("h-0000000000000000a", "home-1a")
    vpc = ic.call("CreateVpc", {"CidrBlock": "10.6.0.0/16"})["Vpc"]["VpcId"]
    ic.call("ModifyVpcAttribute", {"VpcId": vpc, "EnableDnsHostnames": {"Value": True}})
    subnet = ic.call("CreateSubnet", {"VpcId": vpc, "CidrBlock": "10.6.0.0/24",
                                      "AvailabilityZone": "home-1a"})["Subnet"]["SubnetId"]
    ran = ic.run(NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": subnet, "AssociatePublicIpAddress": True}])[0]
    public = ran["PublicIpAddress"]
    name = f"ec2-{public.replace('.', '-')}.home-1.compute.{DOMAIN}"
    assert ran["PublicDnsName"] == name
    assert ran["NetworkInterfaces"][0]["Association"]["PublicDnsName"] == name
    described = ic.instance(ran["InstanceId"])
    assert described["PublicDnsName"] == name
    assert described["NetworkInterfaces"][0]["Association"]["PublicDnsName"] == name
    found = ic.call("DescribeInstances", {"Filters": [
        {"Name": "network-interface.association.public-dns-name", "Values": [name]}]})["Reservations"]
    assert [i["InstanceId"] for r in found for i in r["Instances"]] == [ran["InstanceId"]]
    interface = ic.call("DescribeNetworkInterfaces", {"NetworkInterfaceIds": [
        ran["NetworkInterfaces"][0]["NetworkInterfaceId"]]})["NetworkInterfaces"][0]
    assert interface["Association"]["PublicDnsName"] == name
