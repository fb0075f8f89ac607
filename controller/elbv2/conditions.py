"""Listener rule conditions and actions: AWS's validation and normalization, and their translation into
the agent's contract (``/tmp`` contract section 1: ACTION and CONDITION). Pure.

What is stored (and read back by Describe*) is the normalized AWS shape: every condition carries its
``*Config`` (and ``Values`` too for host-header and path-pattern, as AWS answers), every forward action a
``ForwardConfig``, every redirect all six members, every action an ``Order``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from typing import Any

from controller.elbv2.errors import InvalidLoadBalancerAction, TooManyActions, ValidationError

#: AWS's limits per rule: condition values (match evaluations) and wildcards.
MAX_CONDITION_VALUES = 5
MAX_WILDCARDS = 5
_CONFIG = {"host-header": "HostHeaderConfig", "path-pattern": "PathPatternConfig",
           "http-header": "HttpHeaderConfig", "http-request-method": "HttpRequestMethodConfig",
           "query-string": "QueryStringConfig", "source-ip": "SourceIpConfig"}
_PATH = re.compile(r"^[A-Za-z0-9_\-.$/~\"'@:+&*?]{1,128}$")
_HOST = re.compile(r"^[A-Za-z0-9\-.*?]{1,128}$")
_METHOD = re.compile(r"^[A-Z_-]{1,40}$")
_CONTENT_TYPES = ("text/plain", "text/css", "text/html", "application/javascript", "application/json")


def _values(condition: dict[str, Any], field: str) -> list[Any]:
    config = condition.get(_CONFIG[field]) or {}
    given = config.get("Values")
    legacy = condition.get("Values")
    if given and legacy:
        raise ValidationError(f"A '{field}' condition cannot have both 'Values' and '{_CONFIG[field]}'")
    values = list(given or legacy or [])
    if not values:
        raise ValidationError(f"A '{field}' condition must have at least one value")
    return values


def normalize_conditions(conditions: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Checked conditions in their stored shape, or ValidationError naming the first broken rule of AWS's:
    known fields, one host-header/path-pattern/method/source-ip condition each, value syntax and lengths,
    at most five values and five wildcards per rule."""
    found: list[dict[str, Any]] = []
    seen: set[str] = set()
    total = wildcards = 0
    for condition in conditions:
        field = condition.get("Field") or ""
        if field not in _CONFIG:
            raise ValidationError(f"Condition field '{field}' is not valid; it must be one of "
                                  f"{', '.join(sorted(_CONFIG))}")
        if field in seen and field not in ("http-header", "query-string"):
            raise ValidationError(f"A rule can have only one '{field}' condition")
        seen.add(field)
        values = _values(condition, field)
        total += len(values)
        if field == "path-pattern":
            for v in values:
                if not _PATH.match(v):
                    raise ValidationError(f"Path pattern '{v}' is not valid: at most 128 characters among "
                                          "A-Z, a-z, 0-9, _ - . $ / ~ \" ' @ : + & * ?")
            found.append({"Field": field, "Values": values, "PathPatternConfig": {"Values": values}})
        elif field == "host-header":
            for v in values:
                if not _HOST.match(v):
                    raise ValidationError(f"Host header '{v}' is not valid: at most 128 characters among "
                                          "A-Z, a-z, 0-9, - . * ?")
            found.append({"Field": field, "Values": values, "HostHeaderConfig": {"Values": values}})
        elif field == "http-header":
            name = (condition.get("HttpHeaderConfig") or {}).get("HttpHeaderName") or ""
            if not re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,40}", name):
                raise ValidationError(f"HTTP header name '{name}' is not valid (1-40 token characters)")
            if any(len(v) > 128 for v in values):
                raise ValidationError("HTTP header values can be at most 128 characters")
            found.append({"Field": field, "HttpHeaderConfig": {"HttpHeaderName": name, "Values": values}})
        elif field == "http-request-method":
            for v in values:
                if not _METHOD.match(v):
                    raise ValidationError(f"HTTP request method '{v}' is not valid: at most 40 characters among "
                                          "A-Z, - and _")
            found.append({"Field": field, "HttpRequestMethodConfig": {"Values": values}})
        elif field == "query-string":
            pairs = []
            for pair in values:
                if not isinstance(pair, dict) or not pair.get("Value") or len(pair["Value"]) > 128 \
                        or len(pair.get("Key") or "") > 128:
                    raise ValidationError("Query string conditions need key/value pairs with a value of at most "
                                          "128 characters (the key is optional)")
                pairs.append({k: pair[k] for k in ("Key", "Value") if pair.get(k) is not None})
            values = [f"{p.get('Key', '')}={p['Value']}" for p in pairs]
            found.append({"Field": field, "QueryStringConfig": {"Values": pairs}})
        else:  # source-ip
            for v in values:
                try:
                    ipaddress.ip_network(v, strict=False)
                except ValueError:
                    raise ValidationError(f"Source IP '{v}' is not a valid CIDR block") from None
            found.append({"Field": field, "SourceIpConfig": {"Values": values}})
        if field != "source-ip":
            wildcards += sum(str(v).count("*") + str(v).count("?") for v in values)
    if total > MAX_CONDITION_VALUES:
        raise ValidationError(f"A rule can have at most {MAX_CONDITION_VALUES} condition values; {total} were "
                              "given")
    if wildcards > MAX_WILDCARDS:
        raise ValidationError(f"A rule can have at most {MAX_WILDCARDS} wildcards; {wildcards} were given")
    return found


def normalize_actions(actions: Sequence[dict[str, Any]], lb_type: str) -> list[dict[str, Any]]:
    """Checked actions in their stored shape, ordered by ``Order`` with exactly one terminal action, last.
    Supported: forward, fixed-response, redirect (the last two on Application Load Balancers only)."""
    if not actions:
        raise ValidationError("At least one action must be specified")
    if len(actions) > 5:
        raise TooManyActions("A rule can have at most 5 actions")
    result = []
    for index, action in enumerate(actions, start=1):
        kind = action.get("Type") or ""
        order = action.get("Order") or index
        if kind == "forward":
            result.append({"Type": kind, "Order": order, **_forward(action, lb_type)})
        elif kind in ("fixed-response", "redirect") and lb_type != "application":
            raise InvalidLoadBalancerAction(f"Action type '{kind}' is only supported by Application Load "
                                            "Balancers")
        elif kind == "fixed-response":
            result.append({"Type": kind, "Order": order, "FixedResponseConfig": _fixed(action)})
        elif kind == "redirect":
            result.append({"Type": kind, "Order": order, "RedirectConfig": _redirect(action)})
        else:
            raise InvalidLoadBalancerAction(f"Action type '{kind}' is not supported; use forward, "
                                            "fixed-response or redirect")
    result.sort(key=lambda a: a["Order"])
    if len({a["Order"] for a in result}) != len(result):
        raise ValidationError("Each action must have a unique order")
    if len(result) > 1:
        raise InvalidLoadBalancerAction("Only one terminal action (forward, fixed-response, redirect) is allowed "
                                        "in a rule")
    return result


def _forward(action: dict[str, Any], lb_type: str) -> dict[str, Any]:
    config = action.get("ForwardConfig") or {}
    groups = [{"TargetGroupArn": g.get("TargetGroupArn"), "Weight": 1 if g.get("Weight") is None else g["Weight"]}
              for g in config.get("TargetGroups") or []]
    single = action.get("TargetGroupArn")
    if single and groups and (len(groups) != 1 or groups[0]["TargetGroupArn"] != single):
        raise ValidationError("TargetGroupArn and ForwardConfig must name the same single target group when both "
                              "are given")
    if not groups:
        if not single:
            raise ValidationError("A forward action needs a TargetGroupArn or a ForwardConfig")
        groups = [{"TargetGroupArn": single, "Weight": 1}]
    limit = 5 if lb_type == "application" else 1
    if len(groups) > limit:
        raise ValidationError(f"A forward action can name at most {limit} target group(s)")
    if len({g["TargetGroupArn"] for g in groups}) != len(groups):
        raise ValidationError("A forward action cannot name a target group twice")
    for group in groups:
        if not 0 <= group["Weight"] <= 999:
            raise ValidationError("Target group weights must be between 0 and 999")
    sticky = config.get("TargetGroupStickinessConfig") or {}
    stickiness = {"Enabled": bool(sticky.get("Enabled"))}
    if sticky.get("Enabled"):
        duration = sticky.get("DurationSeconds")
        if duration is None or not 1 <= duration <= 604800:
            raise ValidationError("Target group stickiness duration must be between 1 and 604800 seconds")
        stickiness["DurationSeconds"] = duration
    found: dict[str, Any] = {"ForwardConfig": {"TargetGroups": groups, "TargetGroupStickinessConfig": stickiness}}
    if len(groups) == 1:
        found["TargetGroupArn"] = groups[0]["TargetGroupArn"]
    return found


def _fixed(action: dict[str, Any]) -> dict[str, Any]:
    config = action.get("FixedResponseConfig") or {}
    code = config.get("StatusCode") or ""
    if not re.fullmatch(r"[245]\d\d", code):
        raise ValidationError(f"Fixed response status code '{code}' must be a 2XX, 4XX or 5XX code")
    found = {"StatusCode": code}
    if config.get("ContentType") is not None:
        if config["ContentType"] not in _CONTENT_TYPES:
            raise ValidationError(f"Content type '{config['ContentType']}' must be one of {', '.join(_CONTENT_TYPES)}")
        found["ContentType"] = config["ContentType"]
    if config.get("MessageBody") is not None:
        if len(config["MessageBody"]) > 1024:
            raise ValidationError("The fixed response message body can be at most 1024 characters")
        found["MessageBody"] = config["MessageBody"]
    return found


def _redirect(action: dict[str, Any]) -> dict[str, Any]:
    config = action.get("RedirectConfig") or {}
    if config.get("StatusCode") not in ("HTTP_301", "HTTP_302"):
        raise ValidationError("Redirect status code must be HTTP_301 or HTTP_302")
    found = {"Protocol": config.get("Protocol") or "#{protocol}", "Port": config.get("Port") or "#{port}",
             "Host": config.get("Host") or "#{host}", "Path": config.get("Path") or "/#{path}",
             "Query": config.get("Query") if config.get("Query") is not None else "#{query}",
             "StatusCode": config["StatusCode"]}
    if found["Protocol"] not in ("HTTP", "HTTPS", "#{protocol}"):
        raise ValidationError("Redirect protocol must be HTTP, HTTPS or #{protocol}")
    if not found["Path"].startswith("/"):
        raise ValidationError("Redirect path must begin with a '/'")
    if found == {"Protocol": "#{protocol}", "Port": "#{port}", "Host": "#{host}", "Path": "/#{path}",
                 "Query": "#{query}", "StatusCode": found["StatusCode"]}:
        raise ValidationError("A redirect must change at least one of protocol, port, host, path or query; it "
                              "would loop otherwise")
    return found


def target_groups_of(actions: Sequence[dict[str, Any]]) -> list[str]:
    """The target group ARNs normalized actions forward to."""
    return [g["TargetGroupArn"] for a in actions if a["Type"] == "forward"
            for g in a["ForwardConfig"]["TargetGroups"]]


# --- the agent's contract -------------------------------------------------------------------------------------


def contract_action(action: dict[str, Any]) -> dict[str, Any]:
    """One stored action as the ``loadbalancers`` section's ACTION."""
    if action["Type"] == "forward":
        config = action["ForwardConfig"]
        sticky = config.get("TargetGroupStickinessConfig") or {}
        return {"type": "forward",
                "target_groups": [{"target_group_arn": g["TargetGroupArn"], "weight": g["Weight"]}
                                  for g in config["TargetGroups"]],
                "stickiness": {"enabled": bool(sticky.get("Enabled")),
                               "duration_seconds": sticky.get("DurationSeconds") or 3600}}
    if action["Type"] == "fixed-response":
        config = action["FixedResponseConfig"]
        return {"type": "fixed-response", "status_code": config["StatusCode"],
                "content_type": config.get("ContentType") or "text/plain", "message_body": config.get("MessageBody")
                or ""}
    config = action["RedirectConfig"]
    return {"type": "redirect", "protocol": config["Protocol"], "host": config["Host"], "port": config["Port"],
            "path": config["Path"], "query": config["Query"], "status_code": config["StatusCode"]}


def contract_condition(condition: dict[str, Any]) -> dict[str, Any]:
    """One stored condition as the ``loadbalancers`` section's CONDITION."""
    field = condition["Field"]
    config = condition[_CONFIG[field]]
    if field == "http-header":
        return {"field": field, "header_name": config["HttpHeaderName"], "values": list(config["Values"])}
    if field == "query-string":
        return {"field": field, "query": [{"key": p.get("Key"), "value": p["Value"]} for p in config["Values"]]}
    return {"field": field, "values": list(config["Values"])}
