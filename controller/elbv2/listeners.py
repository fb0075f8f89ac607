"""Listeners: Create/Describe/Modify/DeleteListener, DescribeListenerCertificates, DescribeSSLPolicies and
DescribeAccountLimits.

A listener's default actions are its default rule's (that rule has an ARN of its own, kept on the
listener row). Actions are checked here against the load balancer: their target groups must exist, be
of the load balancer's VPC and of a protocol its listener can forward to, and belong to no other load
balancer (AWS's one-load-balancer-per-target-group rule).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, RowMapping, insert, select, update

from controller.api import Params, RequestContext
from controller.elbv2 import certificates, conditions, records, rules, state, tags
from controller.elbv2.errors import (
    DuplicateListener,
    IncompatibleProtocols,
    SSLPolicyNotFound,
    TargetGroupAssociationLimit,
    TooManyListeners,
    ValidationError,
)
from controller.elbv2.load_balancers import remove_listener
from controller.elbv2.service import api

MAX_LISTENERS = 50
#: listener protocol -> the target group protocols it forwards to
_FORWARDS = {"HTTP": rules.ALB_PROTOCOLS, "HTTPS": rules.ALB_PROTOCOLS, "TCP": ("TCP", "TCP_UDP"),
             "TLS": ("TLS", "TCP"), "UDP": ("UDP", "TCP_UDP"), "TCP_UDP": ("TCP_UDP",)}
LIMITS = {"application-load-balancers": 50, "listeners-per-application-load-balancer": 50,
          "listeners-per-network-load-balancer": 50, "network-load-balancers": 50, "target-groups": 3000,
          "targets-per-application-load-balancer": 1000, "targets-per-network-load-balancer": 3000,
          "rules-per-application-load-balancer": 100, "target-groups-per-application-load-balancer": 100,
          "target-groups-per-action-on-application-load-balancer": 5,
          "target-groups-per-action-on-network-load-balancer": 1, "condition-values-per-alb-rule": 5,
          "condition-wildcards-per-alb-rule": 5, "certificates-per-application-load-balancer": 25,
          "certificates-per-network-load-balancer": 25, "targets-per-target-group": 1000}


def check_actions(conn: Connection, ctx: RequestContext, lb: RowMapping, protocol: str,
                  actions: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Normalized actions whose target groups this load balancer's ``protocol`` listener may forward to."""
    normalized = conditions.normalize_actions(actions, lb["type"])
    used = records.used_target_groups(conn)
    for arn in conditions.target_groups_of(normalized):
        group = records.target_group(conn, ctx, arn)
        if group["protocol"] not in _FORWARDS[protocol]:
            raise IncompatibleProtocols(f"Listener protocol '{protocol}' is not compatible with target group "
                                        f"protocol '{group['protocol']}' of '{arn}'")
        if group["vpc_id"] != lb["vpc_id"]:
            raise ValidationError(f"Target group '{arn}' is not in the VPC '{lb['vpc_id']}' of the load balancer")
        if used.get(arn, set()) - {lb["arn"]}:
            raise TargetGroupAssociationLimit(f"The following target groups cannot be associated with more than one "
                                              f"load balancer: '{arn}'")
    return normalized


def _protocol(lb: RowMapping, protocol: str | None) -> str:
    allowed = rules.ALB_PROTOCOLS if lb["type"] == "application" else rules.NLB_PROTOCOLS
    protocol = protocol or ("HTTP" if lb["type"] == "application" else "TCP")
    if protocol not in allowed:
        raise ValidationError(f"Protocol '{protocol}' must be one of '{', '.join(allowed)}' for a {lb['type']} load "
                              "balancer")
    return protocol


def _tls(ctx: RequestContext, lb: RowMapping, protocol: str, params: Params, current: RowMapping | None) -> Params:
    """The TLS columns of a listener: policy, certificate ARNs, and the served certificate and key."""
    if protocol not in ("HTTPS", "TLS"):
        return {"ssl_policy": None, "certificates": [], "certificate_pem": None, "private_key": None}
    given = params.get("Certificates")
    certs = [{"CertificateArn": certificates.check_arn(c.get("CertificateArn") or "")} for c in given or []] \
        if given is not None else list((current or {}).get("certificates") or [])
    if not certs:
        raise ValidationError(f"A certificate must be specified for {protocol} listeners")
    policy = params.get("SslPolicy") or (current or {}).get("ssl_policy") or certificates.DEFAULT_POLICY
    if policy not in certificates.POLICIES:
        raise SSLPolicyNotFound(f"SSL policy '{policy}' not found")
    if current is not None and current["certificate_pem"] and certs == current["certificates"]:
        pem, key = current["certificate_pem"], current["private_key"]
    else:
        dns = rules.dns_name(lb["name"], lb["lb_id"], lb["scheme"], lb["region"], ctx.cloud.config.service_domain)
        pem, clear = certificates.self_signed(dns)
        key = ctx.cloud.secrets.encrypt(clear)
    return {"ssl_policy": policy, "certificates": certs[:1], "certificate_pem": pem, "private_key": key}


def _check_port(port: Any) -> int:
    if port is None or not 1 <= port <= 65535:
        raise ValidationError("Listener port must be between 1 and 65535")
    return int(port)


@api.operation("CreateListener", resources=records.arns_of("LoadBalancerArn"))
def create_listener(ctx: RequestContext, params: Params) -> Params:
    given_tags = tags.check_new(params.get("Tags") or [])
    table = state.listeners
    with records.write(ctx.cloud.db) as conn:
        lb = records.load_balancer(conn, ctx, params["LoadBalancerArn"])
        protocol = _protocol(lb, params.get("Protocol"))
        port = _check_port(params.get("Port"))
        existing = conn.execute(select(table).where(table.c.load_balancer_arn == lb["arn"])).mappings().all()
        if any(r["port"] == port for r in existing):
            raise DuplicateListener(f"A listener already exists on port {port} of load balancer '{lb['arn']}'")
        if len(existing) >= MAX_LISTENERS:
            raise TooManyListeners(f"A load balancer can have at most {MAX_LISTENERS} listeners")
        actions = check_actions(conn, ctx, lb, protocol, params.get("DefaultActions") or [])
        listener_id = records.new_id()
        base = lb["arn"].split(":loadbalancer/", 1)[1]
        arn = f"{records.arn_prefix(ctx)}listener/{base}/{listener_id}"
        conn.execute(insert(table).values(
            arn=arn, seq=records.next_seq(conn, table), load_balancer_arn=lb["arn"], account_id=ctx.account_id,
            port=port, protocol=protocol, alpn_policy=params.get("AlpnPolicy") or None,
            default_actions=actions, **_tls(ctx, lb, protocol, params, None),
            default_rule_arn=f"{records.arn_prefix(ctx)}listener-rule/{base}/{listener_id}/{records.new_id()}"))
        tags.put(conn, arn, given_tags)
        row = records.listener(conn, ctx, arn)
    ctx.audit_resources.append(arn)
    return {"Listeners": [records.listener_output(row)]}


@api.operation("DescribeListeners")
def describe_listeners(ctx: RequestContext, params: Params) -> Params:
    lb_arn, arns = params.get("LoadBalancerArn"), params.get("ListenerArns") or []
    if bool(lb_arn) == bool(arns):
        raise ValidationError("You must specify either listener ARNs or a load balancer ARN")
    table = state.listeners
    with ctx.cloud.db.read() as conn:
        if lb_arn:
            records.load_balancer(conn, ctx, lb_arn)
            rows = list(conn.execute(select(table).where(table.c.load_balancer_arn == lb_arn)
                                     .order_by(table.c.seq)).mappings())
        else:
            rows = sorted((records.listener(conn, ctx, a) for a in dict.fromkeys(arns)), key=lambda r: r["seq"])
    chunk, marker = rules.page(rows, params.get("Marker"), params.get("PageSize"))
    result: Params = {"Listeners": [records.listener_output(r) for r in chunk]}
    if marker:
        result["NextMarker"] = marker
    return result


@api.operation("ModifyListener", resources=records.arns_of("ListenerArn"))
def modify_listener(ctx: RequestContext, params: Params) -> Params:
    table = state.listeners
    with records.write(ctx.cloud.db) as conn:
        row = records.listener(conn, ctx, params["ListenerArn"])
        lb = records.load_balancer(conn, ctx, row["load_balancer_arn"])
        protocol = _protocol(lb, params.get("Protocol") or row["protocol"])
        port = _check_port(params["Port"]) if params.get("Port") is not None else row["port"]
        if port != row["port"] and conn.execute(select(table.c.arn).where(
                table.c.load_balancer_arn == lb["arn"], table.c.port == port)).first():
            raise DuplicateListener(f"A listener already exists on port {port} of load balancer '{lb['arn']}'")
        given = params.get("DefaultActions")
        actions = check_actions(conn, ctx, lb, protocol, given if given else row["default_actions"])
        values = {"port": port, "protocol": protocol, "default_actions": actions,
                  **_tls(ctx, lb, protocol, params, row)}
        if params.get("AlpnPolicy") is not None:
            values["alpn_policy"] = params["AlpnPolicy"] or None
        conn.execute(update(table).where(table.c.arn == row["arn"]).values(**values))
        row = records.listener(conn, ctx, row["arn"])
    return {"Listeners": [records.listener_output(row)]}


@api.operation("DeleteListener", resources=records.arns_of("ListenerArn"))
def delete_listener(ctx: RequestContext, params: Params) -> Params:
    with records.write(ctx.cloud.db) as conn:
        remove_listener(conn, records.listener(conn, ctx, params["ListenerArn"]))
    return {}


@api.operation("DescribeListenerCertificates", resources=records.arns_of("ListenerArn"))
def describe_listener_certificates(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        row = records.listener(conn, ctx, params["ListenerArn"])
    return {"Certificates": [{**c, "IsDefault": True} for c in row["certificates"]]}


@api.operation("DescribeSSLPolicies")
def describe_ssl_policies(ctx: RequestContext, params: Params) -> Params:
    names = params.get("Names") or list(certificates.POLICIES)
    missing = [n for n in names if n not in certificates.POLICIES]
    if missing:
        raise SSLPolicyNotFound(f"SSL policy '{missing[0]}' not found")
    return {"SslPolicies": [certificates.policy_output(n) for n in names]}


@api.operation("DescribeAccountLimits")
def describe_account_limits(ctx: RequestContext, params: Params) -> Params:
    items = sorted(LIMITS.items())
    chunk, marker = rules.page(items, params.get("Marker"), params.get("PageSize"))
    result: Params = {"Limits": [{"Name": k, "Max": str(v)} for k, v in chunk]}
    if marker:
        result["NextMarker"] = marker
    return result
