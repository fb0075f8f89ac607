"""What the REST data plane asks WAF on every invoke: the verdict of the web ACL in front of a stage.

Cheap when nothing is associated: one indexed read (the resource's association joined to its region's
revision). The compiled web ACL, with its logging configuration, is cached in the runtime against that
revision, which every WAF write bumps, so a change made through any process applies from the next request on.
"""

from __future__ import annotations

import ipaddress
import re
import time
import uuid
from dataclasses import replace
from typing import Any

from sqlalchemy import and_, select

from controller.execute_api.request import InvokeRequest
from controller.logs import ingest
from controller.wafv2 import log_config
from controller.wafv2.evaluate import CompiledAcl, Facts, Outcome, Sets, Verdict, compile_acl, judge, verdict
from controller.wafv2.runtime import Sample, runtime
from controller.wafv2.state import associations, entities, logging_configs, revisions

__all__ = ["Verdict", "inspect"]


def inspect(cloud: Any, resource_arn: str, request: InvokeRequest) -> Verdict | None:
    """The answer WAF gives instead of the API (a block), or None (no web ACL, or it lets the request in)."""
    with cloud.db.read() as conn:
        found = conn.execute(select(associations.c.web_acl_id, revisions.c.revision).join(revisions, and_(
            revisions.c.account_id == associations.c.account_id, revisions.c.region == associations.c.region))
            .where(associations.c.resource_arn == resource_arn)).first()
    if found is None:
        return None
    acl_id, revision = found
    state = runtime(cloud)
    acl = state.compiled(acl_id, revision) or _compile(cloud, acl_id, revision)
    if acl is None:
        return None
    facts = Facts(method=request.method, path=request.path, raw_query=request.raw_query, headers=request.headers,
                  body=request.body, source_ip=request.source_ip)
    now = time.time()
    outcome = judge(acl, facts, state, now)
    answer = verdict(acl, outcome)
    if acl.logging is not None and log_config.kept(acl.logging, outcome):
        _log(cloud, acl.logging, resource_arn, facts, outcome, answer, now)
    if outcome.samples:
        headers = tuple((name, value) for name, value in request.headers.items())
        status = answer.status if answer is not None else None
        state.record([Sample(acl.acl_id, item.metric, item.action, now, request.source_ip,
                             request.path, request.method, headers, tuple(outcome.labels), status)
                      for item in outcome.samples])
    return answer


def _log(cloud: Any, config: dict[str, Any], resource_arn: str, facts: Facts, outcome: Outcome,
         answer: Verdict | None, now: float) -> None:
    """Append the request's record to the web ACL's log group (the logs writer stores it moments later)."""
    arn = config["ResourceArn"]
    account_id, region, name = arn.split(":")[4], arn.split(":")[3], arn.split("/")[-2]
    api_id, stage = resource_arn.split("/restapis/", 1)[-1].split("/stages/", 1)
    line = log_config.record(config, arn, f"{account_id}:{api_id}:{stage}", facts, outcome,
                             request_id=str(uuid.uuid4()), status=answer.status if answer else None,
                             at_ms=int(now * 1000))
    ingest.append(cloud, account_id=account_id, group=log_config.log_group(config), stream=f"{region}_{name}_0",
                  events=[(int(now * 1000), line)])


def _compile(cloud: Any, acl_id: str, revision: int) -> CompiledAcl | None:
    with cloud.db.read() as conn:
        doc = conn.execute(select(entities.c.doc).where(entities.c.entity_id == acl_id)).scalar()
        if doc is None:
            return None
        arns = set(re.findall(r"arn:aws:wafv2:[^\"']+", str(doc.get("Rules"))))
        logging = conn.execute(select(logging_configs.c.config).where(
            logging_configs.c.web_acl_id == acl_id)).scalar()
        docs = {row.doc["ARN"]: row.doc for row in conn.execute(select(entities.c.doc).where(
            entities.c.kind.in_(("ipset", "regexpatternset")), entities.c.account_id == doc["ARN"].split(":")[4]))}
    sets = Sets(
        ip_sets={arn: [ipaddress.ip_network(a, strict=False) for a in docs[arn]["Addresses"]]
                 for arn in arns if arn in docs and "Addresses" in docs[arn]},
        regex_sets={arn: [re.compile(item["RegexString"]) for item in docs[arn]["RegularExpressionList"]]
                    for arn in arns if arn in docs and "RegularExpressionList" in docs[arn]})
    acl = replace(compile_acl(doc, sets), logging=logging)
    runtime(cloud).remember(acl_id, revision, acl)
    return acl
