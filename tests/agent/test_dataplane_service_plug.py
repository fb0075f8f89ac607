"""A service plugging its own ENI's veth ahead of the next dataplane pass (what a Batch job does): only once the
router's loaded ruleset guards the port, with the plan's very link, and the next pass then has nothing to do
for it (no netlink pass, nothing pending). Real namespaces and a real nft ruleset; torn down even on failure."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from pyroute2 import IPRoute

from agent.contract import network as model
from agent.contract.naming import service_port
from agent.network import links, naming, netns, plan
from agent.network.dataplane import Dataplane
from tests.prerequisites import missing_root, require

require(missing_root(), "network namespace tests")
pytestmark = pytest.mark.root

MAC = "02:aa:00:00:00:07"


@pytest.fixture
def lab(tmp_path: object) -> Iterator[tuple[Dataplane, model.HostNetwork, str]]:
    prefix = f"t{uuid.uuid4().hex[:4]}-"
    dataplane = Dataplane(str(tmp_path))
    job = model.Eni("eni-job7", "subnet-1", MAC, ["10.94.1.7"], [], ["sg-1"],
                    attachment=model.Attachment(service_port("eni-job7"), "service"))
    allow_all = [model.NaclEntry(100, egress, "allow", "0.0.0.0/0") for egress in (False, True)]
    vpc = model.Vpc("vpc-1", ["10.94.0.0/16"], "rtb-main", "acl-1",
                    subnets=[model.Subnet("subnet-1", "10.94.1.0/24", "az1")],
                    route_tables=[model.RouteTable("rtb-main", [model.Route("10.94.0.0/16", "local")])],
                    network_acls=[model.NetworkAcl("acl-1", allow_all)],
                    security_groups=[model.SecurityGroup("sg-1", [], [model.SgRule("-1", cidr="0.0.0.0/0")])],
                    enis=[job])
    doc = model.HostNetwork("h-1", [vpc], name_prefix=prefix)
    try:
        yield dataplane, doc, prefix
    finally:
        dataplane.teardown(prefix)
        netns.remove(naming.service_netns(prefix, "eni-job7"))


def test_a_guarded_port_is_plugged_at_once_and_the_next_pass_leaves_it_be(lab: tuple) -> None:
    dataplane, doc, prefix = lab
    router, service = naming.router_netns(prefix, "vpc-1"), naming.service_netns(prefix, "eni-job7")
    port = service_port("eni-job7")
    link = plan.eni_veth("eni-job7", "subnet-1", MAC, port, service, "eth0")
    first = dataplane.apply(doc)
    assert first.pending and first.netlink_converged  # the service's namespace does not exist yet
    assert not links.guarded(router, "s-unknown")  # a port no ruleset names is never plugged
    netns.create(service)
    with IPRoute(netns=service) as inside:
        assert links.guarded(router, port)
        assert links.plug_veth(router, link, inside)
        eth0 = inside.get_links(inside.link_lookup(ifname="eth0")[0])[0]
        assert eth0.get("address") == MAC
    with IPRoute(netns=router) as ipr:
        near = ipr.get_links(ipr.link_lookup(ifname=port)[0])[0]
        bridge = ipr.link_lookup(ifname=naming.subnet_bridge("subnet-1"))[0]
        assert near.get("master") == bridge and near["flags"] & links.IFF_UP
    second = dataplane.apply(doc)
    assert not second.pending and not second.netlink_converged and not second.removed_links
    third = dataplane.apply(doc, full=True)  # the drift repair finds the port exactly as the plan has it
    assert third.netlink_converged and not third.created_links and not third.removed_links
