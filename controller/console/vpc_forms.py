"""Pure helpers of the VPC pages: the editors' forms turned into API parameters, rules shown in a few words,
and Reachability Analyzer's explanation codes said in plain words.

Kept apart from the Flask views so they are tested without a request, and so a form the API would refuse is
refused by the API (with AWS's message), not second-guessed here: only what cannot be sent at all (a port
that is no number) is refused locally.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Protocols the editors offer: form value -> (security group IpProtocol, network ACL protocol number).
PROTOCOLS: dict[str, tuple[str, str]] = {"tcp": ("tcp", "6"), "udp": ("udp", "17"), "icmp": ("icmp", "1"),
                                         "all": ("-1", "-1")}
#: Network ACL protocol numbers back to names.
ACL_PROTOCOL_NAMES = {"-1": "all", "6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6"}


class FormError(ValueError):
    """A form that cannot become an API call (shown like an API error, code ``InvalidForm``)."""

    code = "InvalidForm"

    @property
    def message(self) -> str:
        return str(self)


def number(form: Mapping[str, str], name: str, default: int) -> int:
    """The form field ``name`` as an integer (``default`` when empty); FormError when it is no number."""
    text = (form.get(name) or "").strip()
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise FormError(f"The {name.replace('_', ' ')} must be a number, not {text[:20]!r}.") from None


def _ports(form: Mapping[str, str], protocol: str) -> tuple[int, int] | None:
    """(from, to) for tcp/udp (to defaults to from), (type, code) for icmp (-1 is any), None for all."""
    if protocol == "all":
        return None
    default = -1 if protocol == "icmp" else 0
    low = number(form, "from_port", default)
    return low, number(form, "to_port", low if protocol != "icmp" else -1)


def security_group_permission(form: Mapping[str, str]) -> dict[str, Any]:
    """One ``IpPermission`` of the add-rule form: protocol, ports, and the peer (an IPv4 or IPv6 CIDR, a
    security group id or a prefix list id) with its description."""
    protocol = form.get("protocol", "tcp")
    if protocol not in PROTOCOLS:
        raise FormError(f"Unknown protocol {protocol[:20]!r}.")
    permission: dict[str, Any] = {"IpProtocol": PROTOCOLS[protocol][0]}
    ports = _ports(form, protocol)
    if ports is not None:
        permission["FromPort"], permission["ToPort"] = ports
    peer = (form.get("peer") or "").strip()
    if not peer:
        raise FormError("Give a source or destination: a CIDR block, a security group id or a prefix list id.")
    description = (form.get("description") or "").strip()
    described = {"Description": description} if description else {}
    if peer.startswith("sg-"):
        permission["UserIdGroupPairs"] = [{"GroupId": peer, **described}]
    elif peer.startswith("pl-"):
        permission["PrefixListIds"] = [{"PrefixListId": peer, **described}]
    elif ":" in peer:
        permission["Ipv6Ranges"] = [{"CidrIpv6": peer, **described}]
    else:
        permission["IpRanges"] = [{"CidrIp": peer, **described}]
    return permission


def network_acl_entry(form: Mapping[str, str], acl_id: str) -> dict[str, Any]:
    """Create/ReplaceNetworkAclEntry's parameters from the entry form."""
    protocol = form.get("protocol", "tcp")
    if protocol not in PROTOCOLS:
        raise FormError(f"Unknown protocol {protocol[:20]!r}.")
    params: dict[str, Any] = {"NetworkAclId": acl_id, "RuleNumber": number(form, "rule_number", 0),
                              "Protocol": PROTOCOLS[protocol][1], "RuleAction": form.get("action", "allow"),
                              "Egress": form.get("direction") == "egress"}
    cidr = (form.get("cidr") or "").strip()
    params["Ipv6CidrBlock" if ":" in cidr else "CidrBlock"] = cidr
    ports = _ports(form, protocol)
    if protocol == "icmp" and ports is not None:
        params["IcmpTypeCode"] = {"Type": ports[0], "Code": ports[1]}
    elif ports is not None:
        params["PortRange"] = {"From": ports[0], "To": ports[1]}
    return params


def rule_peer(rule: Mapping[str, Any]) -> str:
    """Where a security group rule (DescribeSecurityGroupRules) admits traffic from or sends it to."""
    referenced = rule.get("ReferencedGroupInfo") or {}
    return str(rule.get("CidrIpv4") or rule.get("CidrIpv6") or rule.get("PrefixListId")
               or referenced.get("GroupId") or "")


def port_range(protocol: str, low: Any, high: Any) -> str:
    """Ports as people read them: ``22``, ``1024-65535``, ``all``; ICMP as type/code."""
    if protocol in ("-1", "all") or low is None:
        return "all"
    if protocol in ("icmp", "1", "icmpv6", "58"):
        return "any" if low == -1 else f"type {low}" + ("" if high in (-1, None) else f" code {high}")
    if (low, high) in ((0, 65535), (-1, -1)):
        return "all"
    return str(low) if low == high else f"{low}-{high}"


def acl_ports(entry: Mapping[str, Any]) -> str:
    protocol = str(entry.get("Protocol", "-1"))
    if protocol in ("1", "58"):
        icmp = entry.get("IcmpTypeCode") or {}
        return port_range(protocol, icmp.get("Type"), icmp.get("Code"))
    ports = entry.get("PortRange") or {}
    return port_range(protocol, ports.get("From"), ports.get("To"))


def component_kind(component: Mapping[str, Any]) -> str:
    """A path component's resource type, read from its ARN (``...:security-group/sg-1`` -> security group)."""
    arn = str(component.get("Arn") or "")
    kind = arn.rpartition(":")[2].partition("/")[0] if "/" in arn else ""
    return kind.replace("-", " ") or str(component.get("Id", "")).partition("-")[0]


def hop_detail(hop: Mapping[str, Any]) -> str:
    """What a forward path component did to the packet: the security group rule, ACL rule or route used."""
    if rule := hop.get("SecurityGroupRule"):
        ports = rule.get("PortRange") or {}
        peer = rule.get("Cidr") or rule.get("PrefixListId") or "a referenced group"
        return (f"{rule.get('Direction', '')} rule {ACL_PROTOCOL_NAMES.get(str(rule.get('Protocol')), rule.get('Protocol'))}"
                f" {port_range(str(rule.get('Protocol')), ports.get('From'), ports.get('To'))} {peer}")
    if rule := hop.get("AclRule"):
        return f"rule #{rule.get('RuleNumber')} {rule.get('RuleAction', '')} {rule.get('Cidr', '')}"
    if route := hop.get("RouteTableRoute"):
        target = next((str(v) for k, v in route.items() if k.endswith("Id") and k != "DestinationPrefixListId"), "")
        return f"route {route.get('DestinationCidr') or route.get('DestinationPrefixListId', '')} to {target}"
    return ""


_WORDS: dict[str, str] = {
    "ENI_SG_RULES_MISMATCH": "No rule of the security groups of {NetworkInterface} allows this traffic "
                             "({Direction}).",
    "SUBNET_ACL_RESTRICTION": "The network ACL {Acl} of {Subnet} stops this traffic ({Direction}): rule {AclRule}.",
    "NO_ROUTE_TO_DESTINATION": "The route table {RouteTable} of {Subnet} has no route to the destination.",
    "BAD_STATE_ROUTE": "The route the route table {RouteTable} would use is {State}, not active.",
    "NO_SOURCE_OR_DESTINATION": "The source or destination {Component} does not exist.",
    "UNSUPPORTED_COMPONENT": "{Component} cannot be a source, destination or hop of this analysis.",
    "UNASSOCIATED_COMPONENT": "{Component} has no address or attachment to send from or receive at.",
    "DISCONNECTED_VPCS": "{SourceVpc} and the destination's VPC are not connected.",
    "IGW_PUBLIC_IP_ASSOCIATION_FOR_EGRESS": "The source has no public address to leave through the internet "
                                            "gateway.",
    "IGW_PRIVATE_IP_ASSOCIATION_FOR_INGRESS": "The destination has no public address the internet can reach.",
    "PCX_REQUIRES_ADDRESS_IN_VPC_CIDR": "The peering connection carries only addresses of the peered VPCs' "
                                        "CIDR blocks.",
    "COMPONENT_FILTER_RESTRICTION": "The path found does not go through {Component}, which was required.",
}


def explain(explanation: Mapping[str, Any]) -> str:
    """An explanation of DescribeNetworkInsightsAnalyses in plain words (its code stays shown beside)."""
    code = str(explanation.get("ExplanationCode", ""))
    values = {key: _word(value) for key, value in explanation.items()}
    template = _WORDS.get(code)
    if template is None:
        return "The analysis stopped here (" + code.replace("_", " ").lower() + ")."
    try:
        return template.format_map(_Blank(values))
    except (ValueError, IndexError):
        return template


def _word(value: Any) -> str:
    """A member of an explanation as a few words: a component's id, a rule's number and action."""
    if isinstance(value, Mapping):
        if "RuleNumber" in value:
            return f"#{value['RuleNumber']} ({value.get('RuleAction', '')})"
        return str(value.get("Id") or value.get("DestinationCidr") or "")
    if isinstance(value, list):
        return ", ".join(_word(v) for v in value)
    return str(value)


class _Blank(dict[str, str]):
    """Missing members read as "its" so a sentence stays readable when AWS leaves one out."""

    def __missing__(self, key: str) -> str:
        return "its"
