"""The load balancers' names in the VPC resolver (pure): what ``ec2/vpc/desired_network.py`` adds to each
VPC's ``Vpc.dns`` records.

A node is recognized by its ENI alone (requester ``amazon-elb``, description ``ELB app|net/<name>/<id>``),
so the network compiler needs no ELB table: an internal load balancer's name resolves to its nodes'
private addresses in its own VPC, an internet-facing one's to their public addresses in every VPC (the
Internet gateway path reaches them, as from anywhere).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from controller.elbv2.rules import dns_name

REQUESTER = "amazon-elb"


def parse_description(description: str) -> tuple[str, str] | None:
    """(name, id) from ``ELB app/<name>/<id>`` (or ``net/``), None for anything else."""
    parts = description.split(" ", 1)
    if len(parts) != 2 or parts[0] != "ELB":
        return None
    pieces = parts[1].split("/")
    if len(pieces) != 3 or pieces[0] not in ("app", "net"):
        return None
    return pieces[1], pieces[2]


def dns_records(interfaces: Iterable[Mapping[str, Any]], addresses: Mapping[str, Sequence[Mapping[str, Any]]],
                vpc_id: str, region: str, service_domain: str) -> list[tuple[str, str]]:
    """(name, address) pairs the resolver of ``vpc_id`` answers for load balancers. ``addresses`` maps an ENI
    id to its address rows (``address``, ``family``, ``is_primary``)."""
    found = set()
    for eni in interfaces:
        if eni.get("requester_id") != REQUESTER:
            continue
        parsed = parse_description(eni.get("description") or "")
        if parsed is None:
            continue
        name, lb_id = parsed
        if eni.get("public_ip"):
            found.add((dns_name(name, lb_id, "internet-facing", region, service_domain), eni["public_ip"]))
        elif eni["vpc_id"] == vpc_id:
            primary = next((a["address"] for a in addresses.get(eni["network_interface_id"], [])
                            if a["family"] == 4 and a["is_primary"]), None)
            if primary:
                found.add((dns_name(name, lb_id, "internal", region, service_domain), primary))
    return sorted(found)
