"""WAF logging to CloudWatch Logs: Put/Get/Delete/ListLoggingConfigurations, and the log record of one
request (pure) that the data plane appends to the configured log group.

A destination is a log group whose name starts with ``aws-waf-logs-`` (AWS's rule), in the caller's account
and region. Records follow AWS's WAF log format (``formatVersion`` 1: the terminating rule, the action, the
non-terminating Count matches, labels, the HTTP request with its headers and arguments), one stream per web
ACL (``{region}_{web ACL name}_0``); RedactedFields replace a header's, the URI's, the query's or the method's
value with ``REDACTED``, and a LoggingFilter keeps or drops records by action and label.
"""

from __future__ import annotations

import json
import re

from sqlalchemy import delete, insert, select

from controller.api import Params, RequestContext
from controller.logs.state import groups
from controller.wafv2 import errors, records
from controller.wafv2.evaluate import Facts, Outcome
from controller.wafv2.state import logging_configs

_LOG_GROUP = re.compile(r"arn:aws:logs:([a-z0-9-]+):(\d{12}):log-group:(aws-waf-logs-[\w\-/.#]+)(:\*)?")
REDACTABLE = {"SingleHeader", "UriPath", "QueryString", "Method"}


def _check(ctx: RequestContext, config: Params) -> str:
    """The destination log group's name, once the configuration is one Cloudlet can honour."""
    destinations = config.get("LogDestinationConfigs") or []
    if len(destinations) != 1:
        raise errors.invalid("LOG_DESTINATION", ",".join(destinations), errors.ONE_REQUIRED)
    match = _LOG_GROUP.fullmatch(destinations[0])
    if match is None or match.group(1) != ctx.region or match.group(2) != ctx.account_id:
        raise errors.invalid("LOG_DESTINATION", destinations[0])
    for redacted in config.get("RedactedFields") or []:
        kinds = [key for key, value in redacted.items() if value is not None]
        if len(kinds) != 1 or kinds[0] not in REDACTABLE:
            raise errors.invalid("FIELD_TO_MATCH", ",".join(kinds), errors.UNSUPPORTED)
    log_filter = config.get("LoggingFilter")
    if log_filter is not None and not log_filter.get("Filters"):
        raise errors.invalid("LOGGING_FILTER", "Filters", errors.MISSING)
    if config.get("LogScope", "CUSTOMER") != "CUSTOMER":
        raise errors.invalid("LOGGING_FILTER", config["LogScope"], errors.UNSUPPORTED)
    return match.group(3)


@records.operation("PutLoggingConfiguration", "webacl")
def put_logging(ctx: RequestContext, params: Params) -> Params:
    config = params["LoggingConfiguration"]
    group = _check(ctx, config)
    stored = {key: value for key, value in config.items() if value is not None}
    stored.update(ManagedByFirewallManager=False, LogType="WAF_LOGS", LogScope="CUSTOMER")
    with ctx.cloud.db.begin() as conn:
        acl = records.find_by_arn(conn, ctx, config["ResourceArn"], "webacl")
        destination = conn.execute(select(groups.c.name).where(
            groups.c.account_id == ctx.account_id, groups.c.region == ctx.region, groups.c.name == group)).first()
        if destination is None:
            raise errors.nonexistent()
        conn.execute(delete(logging_configs).where(logging_configs.c.web_acl_id == acl["entity_id"]))
        conn.execute(insert(logging_configs).values(web_acl_id=acl["entity_id"], account_id=ctx.account_id,
                                                    region=ctx.region, config=stored))
        records.bump(conn, ctx.account_id, ctx.region)
    return {"LoggingConfiguration": stored}


def _config_of(ctx: RequestContext, arn: str) -> tuple[str, Params]:
    with ctx.cloud.db.read() as conn:
        acl = records.find_by_arn(conn, ctx, arn, "webacl")
        config = conn.execute(select(logging_configs.c.config).where(
            logging_configs.c.web_acl_id == acl["entity_id"])).scalar()
    if config is None:
        raise errors.nonexistent()
    return acl["entity_id"], config


@records.operation("GetLoggingConfiguration", "webacl")
def get_logging(ctx: RequestContext, params: Params) -> Params:
    return {"LoggingConfiguration": _config_of(ctx, params["ResourceArn"])[1]}


@records.operation("DeleteLoggingConfiguration", "webacl")
def delete_logging(ctx: RequestContext, params: Params) -> Params:
    acl_id, _ = _config_of(ctx, params["ResourceArn"])
    with ctx.cloud.db.begin() as conn:
        conn.execute(delete(logging_configs).where(logging_configs.c.web_acl_id == acl_id))
        records.bump(conn, ctx.account_id, ctx.region)
    return {}


@records.operation("ListLoggingConfigurations", "webacl")
def list_logging(ctx: RequestContext, params: Params) -> Params:
    records.check_scope(params["Scope"])
    limit = params.get("Limit", records.MAX_LIMIT)
    with ctx.cloud.db.read() as conn:
        configs = sorted((row[0] for row in conn.execute(select(logging_configs.c.config).where(
            logging_configs.c.account_id == ctx.account_id, logging_configs.c.region == ctx.region))),
            key=lambda config: config["ResourceArn"])
    marker = params.get("NextMarker") or ""
    remaining = [config for config in configs if config["ResourceArn"] > marker]
    output: Params = {"LoggingConfigurations": remaining[:limit]}
    if len(remaining) > limit:
        output["NextMarker"] = remaining[limit - 1]["ResourceArn"]
    return output


def log_group(config: Params) -> str:
    return config["LogDestinationConfigs"][0].split(":log-group:", 1)[1].removesuffix(":*")


def kept(config: Params, outcome: Outcome) -> bool:
    """Whether the configuration's LoggingFilter keeps the record of ``outcome`` (no filter: every record)."""
    log_filter = config.get("LoggingFilter")
    if not log_filter:
        return True
    for item in log_filter["Filters"]:
        results = [_condition(condition, outcome) for condition in item["Conditions"]]
        if all(results) if item["Requirement"] == "MEETS_ALL" else any(results):
            return item["Behavior"] == "KEEP"
    return log_filter["DefaultBehavior"] == "KEEP"


def _condition(condition: Params, outcome: Outcome) -> bool:
    if condition.get("ActionCondition"):
        wanted = condition["ActionCondition"]["Action"]
        return wanted == outcome.action or (wanted == "COUNT" and bool(outcome.counted))
    return condition["LabelNameCondition"]["LabelName"] in outcome.labels


def record(config: Params, acl_arn: str, source: str, facts: Facts, outcome: Outcome, *, request_id: str,
           status: int | None, at_ms: int) -> str:
    """One request's WAF log record, as AWS writes it (JSON, one line)."""
    redacted = {next(key for key, value in item.items() if value is not None): item
                for item in config.get("RedactedFields") or []}
    hidden_headers = {item["SingleHeader"]["Name"].lower() for item in config.get("RedactedFields") or []
                      if item.get("SingleHeader")}
    document = {
        "timestamp": at_ms, "formatVersion": 1, "webaclId": acl_arn,
        "terminatingRuleId": outcome.rule or "Default_Action", "terminatingRuleType": "REGULAR",
        "action": outcome.action, "terminatingRuleMatchDetails": [], "httpSourceName": "APIGW",
        "httpSourceId": source, "ruleGroupList": [], "rateBasedRuleList": [],
        "nonTerminatingMatchingRules": [{"ruleId": name, "action": "COUNT", "ruleMatchDetails": []}
                                        for name in outcome.counted],
        "requestHeadersInserted": None, "responseCodeSent": status,
        "httpRequest": {
            "clientIp": facts.source_ip, "country": "-",
            "headers": [{"name": name, "value": "REDACTED" if name in hidden_headers else value}
                        for name, value in facts.headers.items()],
            "uri": "REDACTED" if "UriPath" in redacted else facts.path,
            "args": "REDACTED" if "QueryString" in redacted else facts.raw_query,
            "httpVersion": "HTTP/1.1", "httpMethod": "REDACTED" if "Method" in redacted else facts.method,
            "requestId": request_id},
    }
    if outcome.labels:
        document["labels"] = [{"name": label} for label in outcome.labels]
    return json.dumps(document, separators=(",", ":"))
