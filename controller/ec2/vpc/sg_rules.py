"""Security group rules as values: parsing IpPermissions, AWS's protocol/port rules, and the
IpPermissions view of stored rules. Pure functions, no storage.

EC2 stores one rule per source (CIDR, IPv6 CIDR, prefix list or referenced group) and
shows them two ways: as ``SecurityGroupRules`` (one each, with ``sgr-`` ids) and as
``IpPermissions`` (grouped by protocol and port range). Two rules are the same rule when
direction, protocol, ports and source match; descriptions do not count.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agent.contract import cidr
from controller.ec2.errors import (
    InvalidParameterCombination,
    InvalidParameterValue,
    InvalidPermissionMalformed,
    MissingParameter,
)

PROTOCOL_NAMES = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6"}
PORTED = ("tcp", "udp")
ICMP = ("icmp", "icmpv6")
LEGACY_MEMBERS = ("CidrIp", "IpProtocol", "FromPort", "ToPort", "SourceSecurityGroupName",
                  "SourceSecurityGroupOwnerId")


@dataclass(frozen=True)
class RuleSpec:
    """One rule: protocol, port range (-1 for none) and exactly one source or destination."""

    protocol: str
    from_port: int
    to_port: int
    cidr_ipv4: str | None = None
    cidr_ipv6: str | None = None
    prefix_list_id: str | None = None
    group_id: str | None = None
    group_account: str | None = None
    #: A referenced group named by name, resolved to ``group_id`` by the caller.
    group_name: str | None = None
    description: str | None = field(default=None, compare=False)

    def identity(self) -> tuple[Any, ...]:
        return (self.protocol, self.from_port, self.to_port, self.cidr_ipv4, self.cidr_ipv6, self.prefix_list_id,
                self.group_id)

    def peer(self) -> str:
        return self.cidr_ipv4 or self.cidr_ipv6 or self.prefix_list_id or self.group_id or self.group_name or ""


def normalize_protocol(value: str | None) -> str:
    """AWS's protocol spelling: ``-1``, ``tcp``, ``udp``, ``icmp``, ``icmpv6`` or a number 0..255."""
    if value is None or value == "":
        raise MissingParameter("The request must contain the parameter ipProtocol")
    text = str(value).strip().lower()
    if text in ("-1", "all"):
        return "-1"
    if text in PORTED or text in ICMP:
        return text
    if text.isdigit() and 0 <= int(text) <= 255:
        number = str(int(text))
        return PROTOCOL_NAMES.get(number, number)
    raise InvalidParameterValue(f"Invalid value '{value}' for IP protocol. Unknown protocol.")


def has_ports(protocol: str) -> bool:
    """Whether IpPermissions show FromPort/ToPort for ``protocol``: AWS shows them for TCP and UDP
    (ports) and ICMP/ICMPv6 (type and code); -1 and other protocols allow all ports, so it shows none."""
    return protocol in PORTED or protocol in ICMP


def check_ports(protocol: str, from_port: int | None, to_port: int | None) -> tuple[int, int]:
    """The stored port range: TCP/UDP need 0 <= from <= to <= 65535; ICMP's are type and code
    (-1 for any); other protocols have none (-1, -1)."""
    if protocol in PORTED:
        if from_port is None or to_port is None:
            raise InvalidParameterValue("Invalid value for portRange. Must specify both from and to ports with "
                                        "TCP/UDP.")
        if not 0 <= from_port <= 65535 or not 0 <= to_port <= 65535 or from_port > to_port:
            raise InvalidParameterValue(f"Invalid TCP/UDP port range {from_port}-{to_port}: ports must be 0-65535 "
                                        "and from port <= to port.")
        return from_port, to_port
    if protocol in ICMP:
        icmp_type = -1 if from_port is None else from_port
        icmp_code = -1 if to_port is None else to_port
        if not -1 <= icmp_type <= 255 or not -1 <= icmp_code <= 255 or (icmp_type == -1 and icmp_code != -1):
            raise InvalidParameterValue(f"Invalid ICMP type {icmp_type} and code {icmp_code}.")
        return icmp_type, icmp_code
    return -1, -1


def _cidr(text: str | None, version: int, member: str) -> str:
    if not text:
        raise MissingParameter(f"The request must contain the parameter {member}")
    try:
        return str(cidr.ipv4_network(text) if version == 4 else cidr.ipv6_network(text))
    except cidr.CidrError:
        raise InvalidParameterValue(f"CIDR block {text} is malformed") from None


def parse_permissions(params: Mapping[str, Any], caller_account: str) -> list[RuleSpec]:
    """Every rule an Authorize/Revoke request names, from IpPermissions or the legacy members."""
    permissions = params.get("IpPermissions") or []
    legacy = [m for m in LEGACY_MEMBERS if params.get(m) is not None]
    if permissions and legacy:
        raise InvalidParameterCombination(f"The parameter ipPermissions cannot be used with the parameter "
                                          f"{legacy[0][:1].lower() + legacy[0][1:]}")
    if legacy:
        permission: dict[str, Any] = {"IpProtocol": params.get("IpProtocol") or "-1",
                                      "FromPort": params.get("FromPort"), "ToPort": params.get("ToPort")}
        if params.get("CidrIp"):
            permission["IpRanges"] = [{"CidrIp": params["CidrIp"]}]
        if params.get("SourceSecurityGroupName"):
            permission["UserIdGroupPairs"] = [{"GroupName": params["SourceSecurityGroupName"],
                                               "UserId": params.get("SourceSecurityGroupOwnerId")}]
        permissions = [permission]
    rules: list[RuleSpec] = []
    for permission in permissions:
        rules.extend(_permission_rules(permission, caller_account))
    if not rules:
        raise MissingParameter("The request must contain the parameter ipPermissions")
    return rules


def _permission_rules(permission: Mapping[str, Any], caller_account: str) -> list[RuleSpec]:
    protocol = normalize_protocol(permission.get("IpProtocol"))
    from_port, to_port = check_ports(protocol, permission.get("FromPort"), permission.get("ToPort"))

    def rule(**peer: Any) -> RuleSpec:
        return RuleSpec(protocol, from_port, to_port, **peer)

    rules = [rule(cidr_ipv4=_cidr(r.get("CidrIp"), 4, "cidrIp"), description=r.get("Description"))
             for r in permission.get("IpRanges") or []]
    rules += [rule(cidr_ipv6=_cidr(r.get("CidrIpv6"), 6, "cidrIpv6"), description=r.get("Description"))
              for r in permission.get("Ipv6Ranges") or []]
    for entry in permission.get("PrefixListIds") or []:
        if not entry.get("PrefixListId"):
            raise MissingParameter("The request must contain the parameter prefixListId")
        rules.append(rule(prefix_list_id=entry["PrefixListId"], description=entry.get("Description")))
    for pair in permission.get("UserIdGroupPairs") or []:
        if not pair.get("GroupId") and not pair.get("GroupName"):
            raise MissingParameter("The request must contain the parameter groupId or groupName")
        rules.append(rule(group_id=pair.get("GroupId"), group_name=None if pair.get("GroupId") else pair["GroupName"],
                          group_account=pair.get("UserId") or caller_account, description=pair.get("Description")))
    if not rules:
        raise InvalidPermissionMalformed("The permission must name at least one IP range, IPv6 range, prefix list "
                                         "or security group.")
    return rules


def describe_rule(rule: RuleSpec) -> str:
    """AWS's way of naming a rule in errors (``peer: 0.0.0.0/0, TCP, from port: 22, to port: 22, ALLOW``)."""
    protocol = "ALL" if rule.protocol == "-1" else rule.protocol.upper()
    return f"peer: {rule.peer()}, {protocol}, from port: {rule.from_port}, to port: {rule.to_port}, ALLOW"


def spec_of(row: Mapping[str, Any]) -> RuleSpec:
    """The RuleSpec of a stored rule row."""
    return RuleSpec(row["ip_protocol"], row["from_port"], row["to_port"], row["cidr_ipv4"], row["cidr_ipv6"],
                    row["prefix_list_id"], row["referenced_group_id"], row["referenced_account_id"],
                    description=row["description"])


def ip_permissions(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Stored rules of one direction as IpPermissions, grouped by protocol and ports in rule order."""
    grouped: dict[tuple[str, int, int], dict[str, Any]] = {}
    for row in rows:
        key = (row["ip_protocol"], row["from_port"], row["to_port"])
        permission = grouped.get(key)
        if permission is None:
            permission = {"IpProtocol": row["ip_protocol"], "IpRanges": [], "Ipv6Ranges": [], "PrefixListIds": [],
                          "UserIdGroupPairs": []}
            if has_ports(row["ip_protocol"]):
                permission.update(FromPort=row["from_port"], ToPort=row["to_port"])
            grouped[key] = permission
        described = {"Description": row["description"]} if row["description"] else {}
        if row["cidr_ipv4"]:
            permission["IpRanges"].append({"CidrIp": row["cidr_ipv4"], **described})
        elif row["cidr_ipv6"]:
            permission["Ipv6Ranges"].append({"CidrIpv6": row["cidr_ipv6"], **described})
        elif row["prefix_list_id"]:
            permission["PrefixListIds"].append({"PrefixListId": row["prefix_list_id"], **described})
        else:
            permission["UserIdGroupPairs"].append({"GroupId": row["referenced_group_id"],
                                                   "UserId": row["referenced_account_id"], **described})
    return list(grouped.values())


def permission_of(rule: RuleSpec) -> dict[str, Any]:
    """One rule as a one-source IpPermission (for UnknownIpPermissions)."""
    permission: dict[str, Any] = {"IpProtocol": rule.protocol, "IpRanges": [], "Ipv6Ranges": [], "PrefixListIds": [],
                                  "UserIdGroupPairs": []}
    if has_ports(rule.protocol):
        permission.update(FromPort=rule.from_port, ToPort=rule.to_port)
    if rule.cidr_ipv4:
        permission["IpRanges"].append({"CidrIp": rule.cidr_ipv4})
    elif rule.cidr_ipv6:
        permission["Ipv6Ranges"].append({"CidrIpv6": rule.cidr_ipv6})
    elif rule.prefix_list_id:
        permission["PrefixListIds"].append({"PrefixListId": rule.prefix_list_id})
    else:
        permission["UserIdGroupPairs"].append({"GroupId": rule.group_id, "UserId": rule.group_account})
    return permission
