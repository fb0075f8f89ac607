"""ELBv2's pure rules: resource names, attributes and their defaults, health check defaults, paging,
and the names AWS gives load balancers (ARNs and DNS names).

Listener rule conditions and actions are in ``conditions.py``. Nothing here reads the database.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from controller.elbv2.errors import ValidationError

T = TypeVar("T")

ALB_PROTOCOLS = ("HTTP", "HTTPS")
NLB_PROTOCOLS = ("TCP", "TLS", "UDP", "TCP_UDP")
#: AWS's Route 53 hosted zones of us-east-1 load balancers, used for every Cloudlet region.
HOSTED_ZONES = {"application": "Z35SXDOTRQ7X7K", "network": "Z26RNL4JYFTOTI"}
_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$")


def check_name(name: str, kind: str = "load balancer") -> str:
    """A load balancer's or target group's name: 1-32 alphanumerics or hyphens, no hyphen at either end;
    a load balancer's must not begin with ``internal-`` (AWS's rules and ValidationError)."""
    if not name or len(name) > 32:
        raise ValidationError(f"The {kind} name '{name}' must be 1 to 32 characters long.")
    if not _NAME.match(name):
        raise ValidationError(f"The {kind} name '{name}' can contain only alphanumeric characters and hyphens, "
                              "and cannot begin or end with a hyphen.")
    if kind == "load balancer" and name.startswith("internal-"):
        raise ValidationError(f"Load balancer name '{name}' cannot begin with 'internal-'.")
    return name


def kind_code(lb_type: str) -> str:
    """The ARN's and description's short type (``app``/``net``)."""
    return "app" if lb_type == "application" else "net"


def dns_name(name: str, lb_id: str, scheme: str, region: str, service_domain: str) -> str:
    """``<name>-<id>.<region>.elb.<domain>``, prefixed ``internal-`` for internal load balancers, as AWS."""
    prefix = "internal-" if scheme == "internal" else ""
    return f"{prefix}{name}-{lb_id}.{region}.elb.{service_domain}".lower()


# --- attributes -----------------------------------------------------------------------------------------------

_BOOL = ("true", "false")


def _bool(value: str) -> bool:
    return value in _BOOL


def _int_range(low: int, high: int) -> Callable[[str], bool]:
    return lambda v: v.isdigit() and low <= int(v) <= high


def _one_of(*choices: str) -> Callable[[str], bool]:
    return lambda v: v in choices


_ANY: Callable[[str], bool] = lambda v: len(v) <= 1024  # noqa: E731

#: key -> (default, check), for both types; then per type.
_LB_COMMON: dict[str, tuple[str, Callable[[str], bool]]] = {
    "deletion_protection.enabled": ("false", _bool),
    "access_logs.s3.enabled": ("false", _bool),
    "access_logs.s3.bucket": ("", _ANY),
    "access_logs.s3.prefix": ("", _ANY),
}
_LB_TYPED: dict[str, dict[str, tuple[str, Callable[[str], bool]]]] = {
    "application": {
        "idle_timeout.timeout_seconds": ("60", _int_range(1, 4000)),
        "routing.http2.enabled": ("true", _bool),
        "routing.http.drop_invalid_header_fields.enabled": ("false", _bool),
        "routing.http.desync_mitigation_mode": ("defensive", _one_of("monitor", "defensive", "strictest")),
        "routing.http.preserve_host_header.enabled": ("false", _bool),
        "routing.http.x_amzn_tls_version_and_cipher_suite.enabled": ("false", _bool),
        "routing.http.xff_client_port.enabled": ("false", _bool),
        "routing.http.xff_header_processing.mode": ("append", _one_of("append", "preserve", "remove")),
        "waf.fail_open.enabled": ("false", _bool),
        "client_keep_alive.seconds": ("3600", _int_range(60, 604800)),
        "connection_logs.s3.enabled": ("false", _bool),
        "connection_logs.s3.bucket": ("", _ANY),
        "connection_logs.s3.prefix": ("", _ANY),
    },
    "network": {
        "load_balancing.cross_zone.enabled": ("false", _bool),
        "dns_record.client_routing_policy": ("any_availability_zone", _one_of(
            "availability_zone_affinity", "partial_availability_zone_affinity", "any_availability_zone")),
    },
}


def default_lb_attributes(lb_type: str) -> dict[str, str]:
    return {k: v for k, (v, _) in {**_LB_COMMON, **_LB_TYPED[lb_type]}.items()}


def _tg_attributes(protocol: str | None, target_type: str) -> dict[str, tuple[str, Callable[[str], bool]]]:
    found: dict[str, tuple[str, Callable[[str], bool]]] = {
        "deregistration_delay.timeout_seconds": ("300", _int_range(0, 3600)),
        "stickiness.enabled": ("false", _bool),
    }
    if protocol in NLB_PROTOCOLS:
        found |= {"stickiness.type": ("source_ip", _one_of("source_ip", "source_ip_dest_ip",
                                                           "source_ip_dest_ip_proto")),
                  "proxy_protocol_v2.enabled": ("false", _bool),
                  "preserve_client_ip.enabled": ("true" if target_type == "instance" else "false", _bool),
                  "deregistration_delay.connection_termination.enabled": ("false", _bool)}
    else:
        found |= {"stickiness.type": ("lb_cookie", _one_of("lb_cookie", "app_cookie")),
                  "stickiness.lb_cookie.duration_seconds": ("86400", _int_range(1, 604800)),
                  "stickiness.app_cookie.cookie_name": ("", _ANY),
                  "stickiness.app_cookie.duration_seconds": ("86400", _int_range(1, 604800)),
                  "load_balancing.algorithm.type": ("round_robin", _one_of(
                      "round_robin", "least_outstanding_requests", "weighted_random")),
                  "slow_start.duration_seconds": ("0", lambda v: v == "0" or _int_range(30, 900)(v))}
    return found


def default_tg_attributes(protocol: str | None, target_type: str) -> dict[str, str]:
    return {k: v for k, (v, _) in _tg_attributes(protocol, target_type).items()}


def _apply(current: dict[str, str], known: dict[str, tuple[str, Callable[[str], bool]]],
           given: Sequence[dict[str, Any]], what: str) -> dict[str, str]:
    updated = dict(current)
    for item in given:
        key, value = item.get("Key") or "", str(item.get("Value") or "")
        if key not in known:
            raise ValidationError(f"{what} attribute key '{key}' is not recognized")
        if not known[key][1](value):
            raise ValidationError(f"{what} attribute '{key}' cannot have the value '{value}'")
        updated[key] = value
    return updated


def modify_lb_attributes(current: dict[str, str], lb_type: str, given: Sequence[dict[str, Any]]) -> dict[str, str]:
    """The attributes after ModifyLoadBalancerAttributes (ValidationError for unknown keys and bad values)."""
    updated = _apply(current, {**_LB_COMMON, **_LB_TYPED[lb_type]}, given, "Load balancer")
    if updated.get("access_logs.s3.enabled") == "true" and not updated.get("access_logs.s3.bucket"):
        raise ValidationError("The value of 'access_logs.s3.bucket' cannot be empty when access logs are enabled")
    return updated


def modify_tg_attributes(current: dict[str, str], protocol: str | None, target_type: str,
                         given: Sequence[dict[str, Any]]) -> dict[str, str]:
    return _apply(current, _tg_attributes(protocol, target_type), given, "Target group")


def as_attribute_list(attributes: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(attributes.items())]


# --- target group health checks -------------------------------------------------------------------------------


def health_check(params: dict[str, Any], protocol: str | None, target_type: str,
                 current: dict[str, Any] | None = None) -> dict[str, Any]:
    """The HealthCheck* members after Create/ModifyTargetGroup: given values over the current ones over
    AWS's defaults for the target group's protocol (HTTP(S): path ``/``, 5 s timeout, matcher 200;
    TCP-family: a TCP check with a 10 s timeout)."""
    layer7 = protocol in ALB_PROTOCOLS
    hc_protocol = params.get("HealthCheckProtocol") or (current or {}).get("HealthCheckProtocol") \
        or (protocol if layer7 else "TCP")
    http_check = hc_protocol in ALB_PROTOCOLS
    defaults: dict[str, Any] = {
        "HealthCheckEnabled": True, "HealthCheckProtocol": hc_protocol, "HealthCheckPort": "traffic-port",
        "HealthCheckIntervalSeconds": 30, "HealthCheckTimeoutSeconds": 5 if layer7 else (6 if http_check else 10),
        "HealthyThresholdCount": 5, "UnhealthyThresholdCount": 2}
    if http_check:
        defaults |= {"HealthCheckPath": "/", "Matcher": {"HttpCode": "200" if layer7 else "200-399"}}
    merged = {**defaults, **{k: v for k, v in (current or {}).items() if k in defaults}}
    for key in defaults:
        if params.get(key) is not None:
            merged[key] = params[key]
    merged["HealthCheckProtocol"] = hc_protocol
    if hc_protocol not in ("HTTP", "HTTPS", "TCP"):
        raise ValidationError(f"Health check protocol '{hc_protocol}' is not supported")
    if layer7 and not http_check:
        raise ValidationError(f"Health check protocol '{hc_protocol}' is not supported for target groups with "
                              f"the {protocol} protocol")
    if not 5 <= merged["HealthCheckIntervalSeconds"] <= 300 or not 2 <= merged["HealthCheckTimeoutSeconds"] <= 120:
        raise ValidationError("Health check interval must be 5-300 seconds and timeout 2-120 seconds")
    if merged["HealthCheckTimeoutSeconds"] >= merged["HealthCheckIntervalSeconds"]:
        raise ValidationError("Health check interval must be greater than the timeout.")
    for key in ("HealthyThresholdCount", "UnhealthyThresholdCount"):
        if not 2 <= merged[key] <= 10:
            raise ValidationError(f"{key} must be between 2 and 10")
    port = str(merged["HealthCheckPort"])
    if port != "traffic-port" and not (port.isdigit() and 1 <= int(port) <= 65535):
        raise ValidationError(f"Health check port '{port}' must be 'traffic-port' or a port 1-65535")
    if http_check:
        path = merged.get("HealthCheckPath") or "/"
        if not path.startswith("/") or len(path) > 1024:
            raise ValidationError("Health check path must begin with a '/' and be at most 1024 characters")
        code = (merged.get("Matcher") or {}).get("HttpCode") or "200"
        if not re.fullmatch(r"\d{3}(-\d{3})?(,\d{3}(-\d{3})?)*", code):
            raise ValidationError(f"Health check matcher HTTP code '{code}' is not valid")
        merged["Matcher"] = {"HttpCode": code}
    return merged


# --- paging ---------------------------------------------------------------------------------------------------


def page(items: Sequence[T], marker: str | None, page_size: int | None, limit: int = 400) -> tuple[list[T], str | None]:
    """One page from ``items`` (in a stable order) after the Marker; the next Marker or None."""
    size = limit if page_size is None else page_size
    if not 1 <= size <= limit:
        raise ValidationError(f"Page size must be between 1 and {limit}")
    start = 0
    if marker:
        if not marker.isdigit() or int(marker) > len(items):
            raise ValidationError(f"Invalid marker '{marker}'")
        start = int(marker)
    chunk = list(items[start:start + size])
    return chunk, str(start + size) if start + size < len(items) else None
