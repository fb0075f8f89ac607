"""Route tables to kernel routes: what each subnet's routing table in the VPC router namespace holds.

Each subnet gets its own kernel table (selected by ``ip rule iif <bridge>``), filled from the subnet's route
table, or the VPC's main one. The ``local`` route expands to one connected route per subnet it covers plus an
``unreachable`` for the rest of the block, so a more specific route (to an ENI appliance, say) still wins by
longest prefix match. A route whose target is gone, or is marked ``blackhole``, becomes a kernel blackhole:
matching packets are dropped instead of falling through to a shorter prefix, as in EC2. A route to a gateway
VPC endpoint (``vpce-…``; its destination is the S3 prefix list, i.e. the API address) becomes a ``local`` route
on ``lo``: the router namespace itself takes those packets, where the agent's API relay listens for that
endpoint, and only subnets whose table routes to the endpoint get there.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.contract import cidr
from agent.contract.network import Route, RouteTable, Subnet, Vpc
from agent.network import naming


@dataclass(frozen=True)
class KernelRoute:
    """A route as the kernel will hold it. ``kind``: unicast | blackhole | unreachable | local."""

    table: int
    destination: str
    kind: str = "unicast"
    device: str | None = None
    via: str | None = None

    @property
    def family(self) -> int:
        return cidr.family(self.destination)


def route_table_of(vpc: Vpc, subnet: Subnet) -> RouteTable:
    """The subnet's own route table, or the VPC's main one when it has none (or it is missing)."""
    wanted = subnet.route_table_id or vpc.main_route_table_id
    for table in vpc.route_tables:
        if table.id == wanted:
            return table
    for table in vpc.route_tables:
        if table.id == vpc.main_route_table_id:
            return table
    return RouteTable(id=wanted)


def subnet_routes(vpc: Vpc, subnet: Subnet, table: int) -> list[KernelRoute]:
    """Every kernel route of ``subnet``'s table; explicit routes override ``local`` expansions on equal prefixes."""
    expanded: dict[str, KernelRoute] = {}
    explicit: dict[str, KernelRoute] = {}
    for route in route_table_of(vpc, subnet).routes:
        if route.target == "local" and route.state == "active":
            for kernel_route in _local_routes(vpc, route.destination, table):
                expanded.setdefault(kernel_route.destination, kernel_route)
        else:
            kernel_route = _target_route(vpc, route, table)
            explicit[kernel_route.destination] = kernel_route
    return sorted({**expanded, **explicit}.values(), key=lambda r: (r.family, r.destination))


def lookup(routes: list[KernelRoute], ip: str) -> KernelRoute | None:
    """Longest prefix match over one table, as the kernel does it (for tests and explanations)."""
    return cidr.longest_prefix_match([(r.destination, r) for r in routes], ip)


def _local_routes(vpc: Vpc, destination: str, table: int) -> list[KernelRoute]:
    routes = [KernelRoute(table, destination, "unreachable")]
    for subnet in vpc.subnets:
        for block in (subnet.cidr, subnet.ipv6_cidr):
            if block and cidr.contains(destination, block):
                routes.append(KernelRoute(table, block, device=naming.subnet_bridge(subnet.id)))
    return routes


def _target_route(vpc: Vpc, route: Route, table: int) -> KernelRoute:
    """The kernel form of a non-local route; blackhole when its target cannot be resolved."""
    blackhole = KernelRoute(table, route.destination, "blackhole")
    if route.state != "active":
        return blackhole
    v6 = cidr.family(route.destination) == 6
    far = naming.P2P_FAR_V6 if v6 else naming.P2P_FAR_V4
    target = route.target
    if target.startswith("igw-") and target == vpc.internet_gateway_id:
        return KernelRoute(table, route.destination, device=naming.UPLINK_INSIDE, via=far)
    if target.startswith("eigw-") and target == vpc.egress_only_gateway_id and v6:
        return KernelRoute(table, route.destination, device=naming.UPLINK_INSIDE, via=far)
    if target.startswith("pcx-") and any(p.id == target for p in vpc.peerings):
        return KernelRoute(table, route.destination, device=naming.peering_link(target), via=far)
    if target.startswith("nat-") and not v6:
        for nat in vpc.nat_gateways:
            if nat.id == target:
                return KernelRoute(table, route.destination, device=naming.subnet_bridge(nat.subnet_id),
                                   via=nat.private_ip)
    if target.startswith("vpce-") and any(e.id == target and e.kind == "gateway" for e in vpc.endpoints):
        return KernelRoute(table, route.destination, "local", device="lo")
    if target.startswith("eni-") and route.next_hop and cidr.family(route.next_hop) == (6 if v6 else 4):
        for subnet in vpc.subnets:
            for block in (subnet.cidr, subnet.ipv6_cidr):
                if block and cidr.contains(block, route.next_hop):
                    return KernelRoute(table, route.destination, device=naming.subnet_bridge(subnet.id),
                                       via=route.next_hop)
    return blackhole
