"""The ``loadbalancers`` section of a host's desired document, as dataclasses (pure).

Every value here ends up in an HAProxy configuration, a file name or a namespace name, so the section is
checked before anything is touched: IDs against AWS's formats, paths and header names against the
characters HAProxy's configuration language can carry unquoted. A malformed document is refused whole,
with every problem listed.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

from agent.contract.cidr import SubnetPort
from agent.contract.codec import read_section

INTERFACE_ID = re.compile(r"^eni-[0-9a-f]{8,40}$")
TARGET_ID = re.compile(r"^(i-[0-9a-f]{8,40}|[0-9]{1,3}(\.[0-9]{1,3}){3})$")
MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")
ARN = re.compile(r"^arn:[a-z-]+:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9/._-]+$")
#: Health check paths and header names: printable ASCII without quotes, backslash, '#' or spaces.
SAFE_PATH = re.compile(r"^/[A-Za-z0-9/._~!$&()*+,;=:@%?-]{0,1023}$")
HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&*+.^_`|~-]{1,40}$")
MATCHER = re.compile(r"^\d{3}(-\d{3})?(,\d{3}(-\d{3})?)*$")
STATUS = re.compile(r"^[2-5]\d\d$")
METHOD = re.compile(r"^[A-Za-z_-]{1,40}$")

LB_TYPES = ("application", "network")
HTTP_PROTOCOLS = ("HTTP", "HTTPS")
NLB_PROTOCOLS = ("TCP", "UDP", "TLS", "TCP_UDP")
ACTION_TYPES = ("forward", "fixed-response", "redirect")
FIELDS = ("path-pattern", "host-header", "http-header", "http-request-method", "query-string", "source-ip")
ALGORITHMS = ("round_robin", "least_outstanding_requests", "weighted_random")


@dataclass
class WeightedGroup:
    target_group_arn: str
    weight: int = 1


@dataclass
class GroupStickiness:
    enabled: bool = False
    duration_seconds: int = 3600


@dataclass
class Action:
    """One listener or rule action; the terminal one (forward, fixed-response or redirect) is acted on."""

    type: str
    target_groups: list[WeightedGroup] = field(default_factory=list)
    #: The short form of a forward action (one group, weight 1).
    target_group_arn: str | None = None
    stickiness: GroupStickiness = field(default_factory=GroupStickiness)
    status_code: str | None = None
    content_type: str | None = None
    message_body: str | None = None
    protocol: str = "#{protocol}"
    host: str = "#{host}"
    port: str = "#{port}"
    path: str = "/#{path}"
    query: str = "#{query}"

    def groups(self) -> list[WeightedGroup]:
        """The forward action's groups, whichever of the two forms the controller used."""
        if self.target_groups:
            return self.target_groups
        return [WeightedGroup(self.target_group_arn)] if self.target_group_arn else []


@dataclass
class QueryPair:
    key: str | None = None
    value: str = "*"


@dataclass
class Condition:
    field: str
    values: list[str] = field(default_factory=list)
    header_name: str | None = None
    query: list[QueryPair] = field(default_factory=list)


@dataclass
class Rule:
    priority: int
    rule_arn: str = ""
    conditions: list[Condition] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)


@dataclass
class Listener:
    port: int
    protocol: str
    listener_arn: str = ""
    certificate_pem: str | None = None
    private_key_pem: str | None = None
    default_actions: list[Action] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)

    def ordered_rules(self) -> list[Rule]:
        return sorted(self.rules, key=lambda rule: rule.priority)


@dataclass
class HealthCheck:
    enabled: bool = True
    protocol: str = "HTTP"
    port: str = "traffic-port"
    path: str = "/"
    interval_seconds: int = 30
    timeout_seconds: int = 5
    healthy_threshold: int = 5
    unhealthy_threshold: int = 2
    matcher: str = "200"


@dataclass
class Stickiness:
    enabled: bool = False
    type: str = "lb_cookie"
    duration_seconds: int = 86400


@dataclass
class Target:
    id: str
    ip: str
    port: int
    draining: bool = False


@dataclass
class TargetGroup:
    target_group_arn: str
    name: str = ""
    protocol: str = "HTTP"
    port: int = 80
    target_type: str = "instance"
    health_check: HealthCheck = field(default_factory=HealthCheck)
    deregistration_delay_seconds: int = 300
    stickiness: Stickiness = field(default_factory=Stickiness)
    #: Not in the contract's first version: round_robin unless the controller says otherwise.
    load_balancing_algorithm: str = "round_robin"
    targets: list[Target] = field(default_factory=list)


@dataclass
class Node(SubnetPort):
    load_balancer_arn: str
    interface_id: str
    ip: str
    prefix_len: int
    name: str = ""
    type: str = "application"
    scheme: str = "internet-facing"
    vpc_id: str = ""
    subnet_id: str = ""
    mac: str = ""
    idle_timeout_seconds: int = 60
    listeners: list[Listener] = field(default_factory=list)
    target_groups: list[TargetGroup] = field(default_factory=list)

    @property
    def is_application(self) -> bool:
        return self.type == "application"

    def group(self, arn: str) -> TargetGroup | None:
        return next((group for group in self.target_groups if group.target_group_arn == arn), None)


@dataclass
class LoadBalancersSection:
    nodes: list[Node] = field(default_factory=list)


def parse(data: Any) -> LoadBalancersSection:
    """The section as dataclasses; ContractError lists every problem when it is malformed."""
    return read_section(LoadBalancersSection, data, problems)


def problems(section: LoadBalancersSection) -> list[str]:
    """What makes a section unusable (pure)."""
    found: list[str] = []
    seen: set[str] = set()
    for node in section.nodes:
        where = node.interface_id
        if not INTERFACE_ID.match(node.interface_id):
            found.append(f"interface id {node.interface_id!r} is malformed")
        if node.interface_id in seen:
            found.append(f"{where} is listed twice")
        seen.add(node.interface_id)
        found += [f"{where}: {problem}" for problem in node_problems(node)]
    return found


def node_problems(node: Node) -> list[str]:
    found = []
    if not ARN.match(node.load_balancer_arn):
        found.append(f"load balancer ARN {node.load_balancer_arn!r} is malformed")
    if node.mac and not MAC.match(node.mac):
        found.append(f"MAC {node.mac!r} is malformed")
    if node.type not in LB_TYPES:
        found.append(f"type {node.type!r} is not one of {', '.join(LB_TYPES)}")
    try:
        if not 16 <= node.prefix_len <= 28 or ipaddress.IPv4Address(node.ip) not in node.network:
            raise ValueError
    except ValueError:
        found.append(f"{node.ip}/{node.prefix_len} is not a subnet address")
    if not 1 <= node.idle_timeout_seconds <= 4000:
        found.append(f"idle timeout {node.idle_timeout_seconds} is out of range")
    ports: set[int] = set()
    for listener in node.listeners:
        if listener.port in ports:
            found.append(f"two listeners on port {listener.port}")
        ports.add(listener.port)
        found += [f"listener {listener.port}: {problem}" for problem in listener_problems(node, listener)]
    groups: set[str] = set()
    for group in node.target_groups:
        if group.target_group_arn in groups:
            found.append(f"target group {group.target_group_arn} is listed twice")
        groups.add(group.target_group_arn)
        found += [f"{group.target_group_arn}: {problem}" for problem in group_problems(group)]
    return found


def listener_problems(node: Node, listener: Listener) -> list[str]:
    found = []
    allowed = HTTP_PROTOCOLS if node.is_application else NLB_PROTOCOLS
    if listener.protocol not in allowed:
        found.append(f"protocol {listener.protocol!r} is not one of {', '.join(allowed)}")
    if not 1 <= listener.port <= 65535:
        found.append("port out of range")
    if not listener.default_actions:
        found.append("no default action")
    for action in listener.default_actions:
        found += action_problems(node, action)
    priorities: set[int] = set()
    for rule in listener.rules:
        if rule.priority in priorities:
            found.append(f"priority {rule.priority} is used twice")
        priorities.add(rule.priority)
        if not rule.actions:
            found.append(f"rule {rule.priority} has no action")
        for action in rule.actions:
            found += [f"rule {rule.priority}: {problem}" for problem in action_problems(node, action)]
        for condition in rule.conditions:
            found += [f"rule {rule.priority}: {problem}" for problem in condition_problems(condition)]
    return found


def action_problems(node: Node, action: Action) -> list[str]:
    if action.type not in ACTION_TYPES:
        return []  # authenticate-* and the like: not terminal, the agent ignores them
    found = []
    if action.type == "forward":
        for group in action.groups():
            if node.group(group.target_group_arn) is None:
                found.append(f"forward to {group.target_group_arn}, which the node does not list")
            if not 0 <= group.weight <= 999:
                found.append(f"weight {group.weight} is out of range")
    elif action.type == "fixed-response":
        if not STATUS.match(action.status_code or ""):
            found.append(f"fixed-response status {action.status_code!r} is malformed")
    elif action.status_code not in ("HTTP_301", "HTTP_302"):
        found.append(f"redirect status {action.status_code!r} is not HTTP_301 or HTTP_302")
    return found


def condition_problems(condition: Condition) -> list[str]:
    if condition.field not in FIELDS:
        return [f"condition field {condition.field!r} is unknown"]
    if condition.field == "query-string":
        return [] if condition.query else ["query-string condition without pairs"]
    if not condition.values:
        return [f"{condition.field} condition without values"]
    if condition.field == "http-header" and not HEADER_NAME.match(condition.header_name or ""):
        return [f"header name {condition.header_name!r} is malformed"]
    if condition.field == "http-request-method" and not all(METHOD.match(value) for value in condition.values):
        return [f"methods {condition.values!r} are malformed"]
    if condition.field == "source-ip":
        try:
            for value in condition.values:
                ipaddress.ip_network(value, strict=False)
        except ValueError:
            return [f"source-ip values {condition.values!r} are not CIDR blocks"]
    return []


def group_problems(group: TargetGroup) -> list[str]:
    found = []
    if not ARN.match(group.target_group_arn):
        found.append("target group ARN is malformed")
    check = group.health_check
    if check.port != "traffic-port" and not (check.port.isdigit() and 1 <= int(check.port) <= 65535):
        found.append(f"health check port {check.port!r} is malformed")
    if check.protocol in HTTP_PROTOCOLS and not SAFE_PATH.match(check.path or ""):
        found.append(f"health check path {check.path!r} is malformed")
    if check.protocol in HTTP_PROTOCOLS and not MATCHER.match(check.matcher or ""):
        found.append(f"health check matcher {check.matcher!r} is malformed")
    if not (1 <= check.interval_seconds <= 300 and 1 <= check.timeout_seconds <= 120
            and 2 <= check.healthy_threshold <= 10 and 2 <= check.unhealthy_threshold <= 10):
        found.append("health check timings out of range")
    if group.load_balancing_algorithm not in ALGORITHMS:
        found.append(f"algorithm {group.load_balancing_algorithm!r} is unknown")
    targets: set[tuple[str, int]] = set()
    for target in group.targets:
        if not TARGET_ID.match(target.id):
            found.append(f"target id {target.id!r} is malformed")
        try:
            ipaddress.IPv4Address(target.ip)
        except ValueError:
            found.append(f"target {target.id}: address {target.ip!r} is malformed")
        if not 1 <= target.port <= 65535:
            found.append(f"target {target.id}: port {target.port} out of range")
        if (target.id, target.port) in targets:
            found.append(f"target {target.id}:{target.port} is listed twice")
        targets.add((target.id, target.port))
    return found
