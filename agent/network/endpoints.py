"""VPC endpoints on one host: where the API relay listens for them, and the interface endpoints' namespaces.

A gateway endpoint (S3) needs no namespace of its own: ``routes.py`` makes the API address ``local`` in the
router namespace's tables of the subnets whose route table routes to the endpoint, ``nft.py`` lets TCP 80/443
to it in, and the relay listens there (IP_FREEBIND: the address is on no interface) with ``via`` the
endpoint. A router namespace has one such listener, so when a VPC has several gateway endpoints the first by
id is reported as ``via``; the controller works out from the client's address which one its subnet routes to
(``controller.ec2.vpc.endpoint_services.resolve_source_endpoint``).

An interface endpoint's ENI is a ``service`` attachment: the network plan moves its veth end (``eth0``) into
``naming.service_netns(prefix, eni)``; :class:`EndpointNamespaces` makes that namespace before the dataplane
applies, puts the ENI's address and default route on ``eth0`` after, and removes the namespaces of endpoints
that left the document (it records the ones it made, because EFS mount targets use the same naming). The
relay then listens on the ENI's address inside it. An EC2 Instance Connect Endpoint's ENI (kind
``instance-connect``) gets the same namespace without a relay: ``agent.network.tunnel`` connects from it. :func:`relay_listeners` and :func:`wanted_namespaces` are
pure; the class is the thin edge.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from pyroute2 import IPRoute

from agent.contract import cidr
from agent.contract.network import HostNetwork
from agent.network import naming, netns
from agent.network.api_relay import RelayListener
from agent.service.namespaces import NamespaceAddressing, configure

log = logging.getLogger("cloudlet.agent.network")

#: Inside an interface endpoint's namespace: the veth end the network plan puts there.
INTERFACE = "eth0"
RECORD = "endpoint-namespaces.json"
#: Endpoint kinds whose ENI lives in a namespace of its own: interface endpoints (the API relay listens
#: there) and EC2 Instance Connect Endpoints (``agent.network.tunnel`` opens its TCP connections there).
NAMESPACED = ("interface", "instance-connect")


def relay_listeners(doc: HostNetwork) -> list[RelayListener]:
    """The relay's listeners for this host's VPC endpoints (the Internet one is ``api_relay``'s own)."""
    listeners = []
    for vpc in doc.vpcs:
        gateways = sorted((e for e in vpc.endpoints if e.kind == "gateway" and e.route_table_ids), key=lambda e: e.id)
        if gateways:
            listeners.append(RelayListener(naming.router_netns(doc.name_prefix, vpc.id), gateways[0].address,
                                           gateways[0].id, vpc.id))
        here = {eni.id for eni in vpc.enis}
        for endpoint in vpc.endpoints:
            if endpoint.kind == "interface" and endpoint.eni_id in here:
                listeners.append(RelayListener(naming.service_netns(doc.name_prefix, endpoint.eni_id),
                                               endpoint.address, endpoint.id, vpc.id))
    return sorted(listeners, key=lambda item: (item.netns, item.address))


def wanted_namespaces(doc: HostNetwork) -> list[NamespaceAddressing]:
    """The namespace of each interface endpoint ENI plugged on this host, with its address and router."""
    found = []
    for vpc in doc.vpcs:
        here = {eni.id for eni in vpc.enis}
        subnets = {subnet.id: subnet for subnet in vpc.subnets}
        for endpoint in vpc.endpoints:
            subnet = subnets.get(endpoint.subnet_id or "")
            if endpoint.kind not in NAMESPACED or endpoint.eni_id not in here or subnet is None:
                continue
            found.append(NamespaceAddressing(
                eni_id=endpoint.eni_id, netns=naming.service_netns(doc.name_prefix, endpoint.eni_id),
                ifname=INTERFACE, addresses=(cidr.with_prefix(endpoint.address, subnet.cidr),),
                gateway=cidr.router_address(subnet.cidr), gateway6=None))
    return sorted(found, key=lambda item: item.netns)


class EndpointNamespaces:
    """Interface endpoints' namespaces: made before the dataplane applies, addressed after, removed when gone."""

    def __init__(self, run_dir: str) -> None:
        self.record = Path(run_dir) / RECORD
        #: ENIs whose ``eth0`` is not in their namespace yet (the dataplane plugs it on its next pass).
        self.waiting: list[str] = []

    def prepare(self, doc: HostNetwork) -> None:
        """Make the namespaces the document wants and remove the ones this agent made that it no longer does."""
        wanted = {item.netns for item in wanted_namespaces(doc)}
        made = self._recorded()
        for name in sorted(made - wanted):
            netns.remove(name)
            log.info("VPC endpoint namespace %s removed", name)
        for name in sorted(wanted):
            netns.create(name)
        self._write(wanted)

    def configure(self, doc: HostNetwork) -> None:
        """Address each namespace's ``eth0`` once the dataplane has plugged it."""
        waiting = []
        for item in wanted_namespaces(doc):
            with IPRoute(netns=item.netns) as ipr:
                if not configure(ipr, item):
                    waiting.append(item.eni_id)
        self.waiting = waiting

    def teardown(self) -> list[str]:
        """Remove every namespace this agent made for endpoints; returns their names."""
        made = sorted(self._recorded())
        for name in made:
            netns.remove(name)
        self.record.unlink(missing_ok=True)
        return made

    def _recorded(self) -> set[str]:
        try:
            return set(json.loads(self.record.read_text()))
        except (FileNotFoundError, ValueError):
            return set()

    def _write(self, names: set[str]) -> None:
        self.record.parent.mkdir(parents=True, exist_ok=True)
        self.record.write_text(json.dumps(sorted(names)))
