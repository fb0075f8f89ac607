"""The VPC resolver: the controller's compile of ``Vpc.dns``, the DNS names EC2 shows, dnsmasq's DNS lines,
the router's input rules, and the DNS wire helpers."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator

import pytest

from agent.contract.network import (
    RESOLVER_V4,
    ApiAccess,
    DnsRecord,
    Eni,
    HostNetwork,
    NetworkAcl,
    RouteTable,
    Subnet,
    Vpc,
    VpcDns,
)
from agent.network import dns, nft
from agent.network.dhcp import dnsmasq_config
from agent.network.dns_forwarder import DnsForwarder, Upstream, parse_upstream
from agent.network.uplink import HostUplink
from controller.ec2.instances.metadata import metadata_for_interface
from controller.ec2.vpc import desired_network, eni_records
from controller.ec2.vpc.desired_network import HostInfo
from tests.unit.harness import Clouds, InstanceCloud, VpcCloud

HOSTS = [HostInfo("h1", "home-1a"), HostInfo("h2", "home-1a")]


def veth(port: str) -> dict:
    return {"port": port, "kind": "veth", "instance_netns": f"ns-{port}", "guest_ifname": "eth0"}


@pytest.fixture
def cloud(clouds: Clouds) -> VpcCloud:
    return clouds.vpc()


@pytest.fixture
def lab(cloud: VpcCloud) -> dict[str, str]:
    """A VPC with an IGW, an instance with an auto-assigned public address on h1, one without on h2."""
    call = cloud.call
    ids = {"vpc": call("CreateVpc", {"CidrBlock": "10.0.0.0/16"})["Vpc"]["VpcId"]}
    ids["subnet"] = call("CreateSubnet", {"VpcId": ids["vpc"], "CidrBlock": "10.0.1.0/24",
                                          "AvailabilityZone": "home-1a"})["Subnet"]["SubnetId"]
    ids["igw"] = call("CreateInternetGateway")["InternetGateway"]["InternetGatewayId"]
    call("AttachInternetGateway", {"InternetGatewayId": ids["igw"], "VpcId": ids["vpc"]})
    call("ModifySubnetAttribute", {"SubnetId": ids["subnet"], "MapPublicIpOnLaunch": {"Value": True}})
    ids["web"] = cloud.launch(ids["subnet"], "i-000000000000000a1", host_id="h1", port=veth("cl-web"))
    call("ModifySubnetAttribute", {"SubnetId": ids["subnet"], "MapPublicIpOnLaunch": {"Value": False}})
    ids["db"] = cloud.launch(ids["subnet"], "i-000000000000000a2", host_id="h2", port=veth("cl-db"))
    return ids


def resolver(cloud: VpcCloud, vpc_id: str, host: str = "h1") -> VpcDns | None:
    with cloud.db.read() as conn:
        rows = desired_network.load_network(conn)
    return desired_network.compile_host_network(rows, host, cloud.config, HOSTS).vpc(vpc_id).dns


def records(found: VpcDns | None) -> dict[str, str]:
    assert found is not None
    return {r.name: r.address for r in found.records}


def hostnames(cloud: VpcCloud, vpc_id: str, on: bool) -> None:
    cloud.call("ModifyVpcAttribute", {"VpcId": vpc_id, "EnableDnsHostnames": {"Value": on}})


# --- controller: the compile ---------------------------------------------------------------------------------


def test_every_interface_of_the_vpc_gets_its_private_name_on_every_host(cloud: VpcCloud, lab: dict[str, str]) -> None:
    found = resolver(cloud, lab["vpc"])
    assert found is not None
    assert found.addresses == ["10.0.0.2", "169.254.169.253"] and found.domain == "home-1.compute.internal"
    # db lives on h2, yet h1's resolver knows it; hostnames are off in a new VPC, so no public names.
    assert records(found) == {"ip-10-0-1-4.home-1.compute.internal": "10.0.1.4",
                              "ip-10-0-1-5.home-1.compute.internal": "10.0.1.5"}


def test_secondary_addresses_have_names_too(cloud: VpcCloud, lab: dict[str, str]) -> None:
    cloud.call("AssignPrivateIpAddresses", {"NetworkInterfaceId": lab["db"], "PrivateIpAddresses": ["10.0.1.77"]})
    assert records(resolver(cloud, lab["vpc"]))["ip-10-0-1-77.home-1.compute.internal"] == "10.0.1.77"


def test_public_names_resolve_to_private_addresses_only_with_dns_hostnames(cloud: VpcCloud,
                                                                           lab: dict[str, str]) -> None:
    hostnames(cloud, lab["vpc"], True)
    allocation = cloud.call("AllocateAddress")["AllocationId"]
    public = cloud.call("DescribeAddresses", {"AllocationIds": [allocation]})["Addresses"][0]["PublicIp"]
    cloud.call("AssociateAddress", {"AllocationId": allocation, "NetworkInterfaceId": lab["db"]})
    names = records(resolver(cloud, lab["vpc"]))
    auto = cloud.call("DescribeNetworkInterfaces", {"NetworkInterfaceIds": [lab["web"]]})[
        "NetworkInterfaces"][0]["Association"]["PublicIp"]
    assert names[f"ec2-{auto.replace('.', '-')}.home-1.compute.amazonaws.com"] == "10.0.1.4"
    assert names[f"ec2-{public.replace('.', '-')}.home-1.compute.amazonaws.com"] == "10.0.1.5"
    hostnames(cloud, lab["vpc"], False)
    assert not any(n.startswith("ec2-") for n in records(resolver(cloud, lab["vpc"])))


def test_no_dns_support_no_resolver_and_dhcp_announces_none(cloud: VpcCloud, lab: dict[str, str]) -> None:
    cloud.call("ModifyVpcAttribute", {"VpcId": lab["vpc"], "EnableDnsSupport": {"Value": False}})
    assert resolver(cloud, lab["vpc"]) is None
    with cloud.db.read() as conn:
        rows = desired_network.load_network(conn)
    vpc = desired_network.compile_host_network(rows, "h1", cloud.config, HOSTS).vpc(lab["vpc"])
    assert vpc.dhcp.domain_name_servers == []
    cloud.call("ModifyVpcAttribute", {"VpcId": lab["vpc"], "EnableDnsSupport": {"Value": True}})
    assert resolver(cloud, lab["vpc"]) is not None


def test_the_names_follow_aws_region_forms() -> None:
    assert eni_records.private_dns_name("us-east-1", "10.0.1.5") == "ip-10-0-1-5.ec2.internal"
    assert eni_records.private_dns_name("home-1", "10.0.1.5") == "ip-10-0-1-5.home-1.compute.internal"
    assert eni_records.public_dns_name("us-east-1", "198.51.100.7") == "ec2-198-51-100-7.compute-1.amazonaws.com"
    assert eni_records.public_dns_name("eu-west-3", "198.51.100.7", "cloud.lan") == (
        "ec2-198-51-100-7.eu-west-3.compute.cloud.lan")


def test_the_service_domain_ends_public_names(clouds: Clouds) -> None:
    cloud = clouds.vpc(region="us-east-1", service_domain="cloud.lan")
    vpc = cloud.call("CreateVpc", {"CidrBlock": "10.5.0.0/16"})["Vpc"]["VpcId"]
    subnet = cloud.call("CreateSubnet", {"VpcId": vpc, "CidrBlock": "10.5.0.0/24"})["Subnet"]["SubnetId"]
    cloud.call("ModifySubnetAttribute", {"SubnetId": subnet, "MapPublicIpOnLaunch": {"Value": True}})
    cloud.launch(subnet, "i-000000000000000b1", host_id="h1", port=veth("cl-b1"))
    hostnames(cloud, vpc, True)
    found = resolver(cloud, vpc)
    assert found is not None and found.domain == "ec2.internal"
    names = records(found)
    assert names["ip-10-5-0-4.ec2.internal"] == "10.5.0.4"
    assert [n for n in names if n.startswith("ec2-")][0].endswith(".compute-1.cloud.lan")


# --- controller: what EC2 shows -----------------------------------------------------------------------------


def test_describe_network_interfaces_shows_public_names_with_dns_hostnames(cloud: VpcCloud,
                                                                            lab: dict[str, str]) -> None:
    def web() -> dict:
        return cloud.call("DescribeNetworkInterfaces", {"NetworkInterfaceIds": [lab["web"]]})["NetworkInterfaces"][0]

    eni = web()
    assert eni["PrivateDnsName"] == "ip-10-0-1-4.home-1.compute.internal"
    assert eni["PrivateIpAddresses"][0]["PrivateDnsName"] == "ip-10-0-1-4.home-1.compute.internal"
    assert eni["Association"]["PublicDnsName"] == ""
    hostnames(cloud, lab["vpc"], True)
    eni = web()
    name = f"ec2-{eni['Association']['PublicIp'].replace('.', '-')}.home-1.compute.amazonaws.com"
    assert eni["Association"]["PublicDnsName"] == name
    assert eni["PrivateIpAddresses"][0]["Association"]["PublicDnsName"] == name
    matched = cloud.call("DescribeNetworkInterfaces", {"Filters": [
        {"Name": "association.public-dns-name", "Values": [name]}]})["NetworkInterfaces"]
    assert [m["NetworkInterfaceId"] for m in matched] == [lab["web"]]


def test_describe_instances_shows_and_filters_dns_names(ic: InstanceCloud) -> None:
    # The default VPC has DNS hostnames on (as in AWS) and its subnets map public addresses.
    instance = ic.run()[0]
    instance = ic.instance(instance["InstanceId"])
    public, private = instance["PublicIpAddress"], instance["PrivateIpAddress"]
    assert instance["PublicDnsName"] == f"ec2-{public.replace('.', '-')}.home-1.compute.amazonaws.com"
    assert instance["PrivateDnsName"] == f"ip-{private.replace('.', '-')}.home-1.compute.internal"
    assert instance["NetworkInterfaces"][0]["Association"]["PublicDnsName"] == instance["PublicDnsName"]
    for name, value in (("dns-name", instance["PublicDnsName"]), ("private-dns-name", instance["PrivateDnsName"])):
        found = ic.call("DescribeInstances", {"Filters": [{"Name": name, "Values": [value]}]})["Reservations"]
        assert [i["InstanceId"] for r in found for i in r["Instances"]] == [instance["InstanceId"]]
        none = ic.call("DescribeInstances", {"Filters": [{"Name": name, "Values": ["x" + value]}]})["Reservations"]
        assert none == []
    ic.call("ModifyVpcAttribute", {"VpcId": instance["VpcId"], "EnableDnsHostnames": {"Value": False}})
    instance = ic.instance(instance["InstanceId"])
    assert instance["PublicDnsName"] == "" and instance["PublicIpAddress"] == public


def test_imds_public_hostname_follows_dns_hostnames(ic: InstanceCloud) -> None:
    instance = ic.instance(ic.run()[0]["InstanceId"])
    eni = instance["NetworkInterfaces"][0]["NetworkInterfaceId"]
    tree = metadata_for_interface(ic.cloud, eni)["meta_data"]
    assert tree["public-hostname"] == instance["PublicDnsName"] and tree["local-hostname"] == instance["PrivateDnsName"]
    ic.call("ModifyVpcAttribute", {"VpcId": instance["VpcId"], "EnableDnsHostnames": {"Value": False}})
    tree = metadata_for_interface(ic.cloud, eni)["meta_data"]
    assert "public-hostname" not in tree and tree["public-ipv4"] == instance["PublicIpAddress"]


# --- agent: dnsmasq and nft ---------------------------------------------------------------------------------


def vpc_with_dns(**dns_changes: object) -> Vpc:
    resolver_ = VpcDns(["10.0.0.2", RESOLVER_V4], "home-1.compute.internal", [
        DnsRecord("ec2-198-51-100-7.home-1.compute.amazonaws.com", "10.0.1.5"),
        DnsRecord("ip-10-0-1-5.home-1.compute.internal", "10.0.1.5"),
        DnsRecord("ip-10-0-1-40.home-1.compute.internal", "10.0.1.40")])
    for key, value in dns_changes.items():
        setattr(resolver_, key, value)
    return Vpc("vpc-1", ["10.0.0.0/16"], "rtb-1", "acl-1", subnets=[Subnet("subnet-1", "10.0.1.0/24", "az")],
               route_tables=[RouteTable("rtb-1")], network_acls=[NetworkAcl("acl-1")],
               enis=[Eni("eni-1", "subnet-1", "02:00:00:00:00:01", ["10.0.1.5"])], dns=resolver_)


API = ApiAccess("203.0.113.2", ["s3.home-1.amazonaws.com", "sts.home-1.amazonaws.com"])


def test_dnsmasq_answers_the_records_at_the_resolver_addresses_and_nothing_else_in_lab_mode() -> None:
    config = dnsmasq_config(vpc_with_dns(), "/run/x", API, forward=False)
    lines = config.config.splitlines()
    assert "port=53" in lines and "port=0" not in lines
    assert "listen-address=10.0.0.2" in lines and "listen-address=169.254.169.253" in lines
    # Grouped by address, numeric order; the private name first, so the PTR answers it.
    assert "addn-hosts=/run/x/dns-hosts" in lines
    assert config.dns_hosts == ("10.0.1.5 ip-10-0-1-5.home-1.compute.internal "
                                "ec2-198-51-100-7.home-1.compute.amazonaws.com\n"
                                "10.0.1.40 ip-10-0-1-40.home-1.compute.internal\n")
    assert "address=/s3.home-1.amazonaws.com/203.0.113.2" in lines and "local=/s3.home-1.amazonaws.com/" in lines
    assert "local=/#/" in lines and not any(line.startswith("server=") for line in lines)


def test_dnsmasq_forwards_unknown_names_to_the_agent_forwarder_in_nat_mode() -> None:
    lines = dnsmasq_config(vpc_with_dns(), "/run/x", None, forward=True).config.splitlines()
    assert f"server=127.0.0.1#{dns.FORWARDER_PORT}" in lines and "local=/#/" not in lines
    assert "local=/home-1.compute.internal/" in lines and "local=/10.in-addr.arpa/" not in lines
    assert "local=/0.10.in-addr.arpa/" in lines  # the VPC's reverse zone stays local


def test_no_dns_support_means_dhcp_only() -> None:
    vpc = vpc_with_dns()
    vpc.dns = None
    config = dnsmasq_config(vpc, "/run/x", API, forward=True)
    lines = config.config.splitlines()
    assert "port=0" in lines and not any(line.startswith(("server=", "addn-hosts=", "address=")) for line in lines)
    assert config.dns_hosts == ""


def test_reverse_zones_cover_exactly_the_block() -> None:
    assert dns.reverse_zones("10.0.0.0/16") == ["0.10.in-addr.arpa"]
    assert dns.reverse_zones("10.0.0.0/24") == ["0.0.10.in-addr.arpa"]
    assert dns.reverse_zones("172.16.16.0/22") == [f"{n}.16.172.in-addr.arpa" for n in (16, 17, 18, 19)]
    assert dns.reverse_zones("2001:db8::/56") == ["0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"]


def test_the_router_accepts_dns_only_at_the_resolver_addresses() -> None:
    vpc = vpc_with_dns()
    ruleset = nft.router_ruleset(HostNetwork("h", [vpc]), vpc)
    assert 'ip daddr { 10.0.0.2, 169.254.169.253 } udp dport 53 accept' in ruleset
    assert 'ip daddr { 10.0.0.2, 169.254.169.253 } tcp dport 53 accept' in ruleset
    vpc.dns = None
    ruleset = nft.router_ruleset(HostNetwork("h", [vpc]), vpc)
    assert "dport 53" not in ruleset and "{ 67, 547 }" in ruleset


# --- wire format ----------------------------------------------------------------------------------------------


def test_a_query_and_an_error_reply_round_trip() -> None:
    query = dns.encode_query("Ip-10-0-1-5.home-1.compute.internal", "A", ident=0x1234)
    message = dns.parse(query)
    assert (message.ident, message.question) == (0x1234, ("ip-10-0-1-5.home-1.compute.internal", 1, 1))
    reply = dns.parse(dns.error_reply(query))
    assert reply.ident == 0x1234 and reply.rcode == "SERVFAIL" and reply.flags & 0x8000
    assert reply.question == message.question


def test_answers_with_compressed_names_are_read() -> None:
    query = dns.encode_query("5.1.0.10.in-addr.arpa", "PTR", ident=7)
    header = struct.pack("!HHHHHH", 7, 0x8180, 1, 1, 0, 0)
    target = b"\x0bip-10-0-1-5\x06home-1\x07compute\x08internal\x00"
    answer = b"\xc0\x0c" + struct.pack("!HHIH", 12, 1, 60, len(target)) + target
    message = dns.parse(header + query[12:] + answer)
    assert message.rcode == "NOERROR" and message.answers == [("PTR", "ip-10-0-1-5.home-1.compute.internal")]
    with pytest.raises(dns.WireError):
        dns.parse(b"\x00\x01")


# --- the forwarder's host side --------------------------------------------------------------------------------


def test_upstreams_are_read_in_dnsmasq_and_bracket_forms() -> None:
    assert parse_upstream("198.18.0.53") == Upstream("198.18.0.53", 53)
    assert parse_upstream("198.18.0.53#5353") == Upstream("198.18.0.53", 5353)
    assert parse_upstream("[2001:db8::53]:5353") == Upstream("2001:db8::53", 5353)


def test_lab_mode_forwards_nowhere_whatever_the_upstreams() -> None:
    forwarder = DnsForwarder(HostUplink(mode="lab", dns_upstreams=("198.18.0.53",)))
    try:
        assert not forwarder.enabled and forwarder.upstreams == []
        forwarder.update(HostNetwork("h", [vpc_with_dns()]))  # would open sockets in a namespace if enabled
        query = dns.encode_query("example.com", ident=9)
        assert dns.parse(forwarder.resolve_udp(query)).rcode == "SERVFAIL"
    finally:
        forwarder.close()


@pytest.fixture
def loopback_upstream() -> Iterator[tuple[socket.socket, list[bytes]]]:
    """A UDP server on 127.0.0.1 that first answers with a wrong id, then with the right one; it records
    what it was asked."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    asked: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                query, peer = sock.recvfrom(4096)
            except OSError:
                continue
            asked.append(query)
            reply = bytearray(dns.error_reply(query, rcode=3))
            reply[0] ^= 0xFF
            sock.sendto(bytes(reply), peer)
            sock.sendto(dns.error_reply(query, rcode=3), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield sock, asked
    stop.set()
    thread.join()
    sock.close()


def test_the_forwarder_passes_back_the_matching_answer_only(loopback_upstream: tuple[socket.socket, list[bytes]]) -> None:
    sock, asked = loopback_upstream
    port = sock.getsockname()[1]
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    forwarder = DnsForwarder(HostUplink(mode="nat", dns_upstreams=(f"127.0.0.1#{silent.getsockname()[1]}",
                                                                    f"127.0.0.1#{port}")), timeout=0.6)
    try:
        query = dns.encode_query("nowhere.example", ident=0x4242)
        reply = dns.parse(forwarder.resolve_udp(query))
        assert (reply.ident, reply.rcode) == (0x4242, "NXDOMAIN")  # the silent first upstream is skipped
        assert asked == [query]
        assert forwarder.resolve_udp(b"junk") == b""
    finally:
        forwarder.close()
        silent.close()
