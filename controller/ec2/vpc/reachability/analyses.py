"""Network insights analyses: StartNetworkInsightsAnalysis, DescribeNetworkInsightsAnalyses and
DeleteNetworkInsightsAnalysis.

An analysis reads the whole VPC state once (``desired_network.load_network``, the rows the dataplane is
compiled from), freezes it (:mod:`.snapshot`) and judges the path with the pure :func:`.analysis.analyze`
before StartNetworkInsightsAnalysis answers. The answer says ``running``, as AWS's first answer does. When
a host's agent can confirm the verdict with a real packet (:mod:`.probes`), the analysis stays ``running``
until it reports (about a second) or :data:`.probes.PROBE_SECONDS` pass; otherwise every later read sees it
``succeeded`` with its verdict, so a client polling with a waiter finishes on its first poll.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from sqlalchemy import RowMapping, delete, select

from controller.api import Params, RequestContext
from controller.ec2 import lookups
from controller.ec2.describe import describe, listing
from controller.ec2.errors import IdempotentParameterMismatch, UnsupportedOperation
from controller.ec2.ids import NETWORK_INSIGHTS_ANALYSIS, NETWORK_INSIGHTS_PATH
from controller.ec2.operation import NEW, arns, vpc_operation
from controller.ec2.tags import drop_tags, tag_new_resource, tags_of
from controller.ec2.vpc.desired_network import load_network
from controller.ec2.vpc.reachability import analysis, probes, snapshot, state
from controller.hosts import generation
from controller.protocol.timestamps import to_utc
from controller.state import utcnow


def query_of(path: RowMapping) -> analysis.PathQuery:
    """What the analysis core needs of a stored path."""
    filters = tuple(f for f in (path["filter_at_source"], path["filter_at_destination"]) if f)
    return analysis.PathQuery(source=path["source_id"], destination=path["destination_id"],
                              protocol=path["protocol"], source_ip=path["source_ip"],
                              destination_ip=path["destination_ip"], destination_port=path["destination_port"],
                              filters=filters)


def _required_components(verdict: analysis.Verdict, filter_in_arns: list[str]) -> analysis.Verdict:
    """The verdict once FilterInArns is applied: a found path that misses a required component is not the
    path asked for (AWS's ``COMPONENT_FILTER_RESTRICTION``)."""
    traversed = {c["Component"]["Arn"] for c in verdict.forward} | {c["Component"]["Id"] for c in verdict.forward}
    missing = [arn for arn in filter_in_arns if arn not in traversed and arn.rpartition("/")[2] not in traversed]
    if not verdict.path_found or not missing:
        return verdict
    explanations = tuple({"ExplanationCode": "COMPONENT_FILTER_RESTRICTION", "Component": {
        "Id": arn.rpartition("/")[2], "Arn": arn}} for arn in missing)
    return dataclasses.replace(verdict, path_found=False, forward=(), returning=(), explanations=explanations)


def analysis_output(ctx: RequestContext, row: RowMapping | dict[str, Any], tags: list[dict[str, str]], *,
                    status: str | None = None) -> Params:
    """AWS's ``NetworkInsightsAnalysis``; with ``status`` (the start's answer), without the verdict. Once
    settled, ``WarningMessage`` says what the dataplane probe showed (:func:`.probes.warning_message`)."""
    current, outcome = probes.settled(row)
    output: Params = {"NetworkInsightsAnalysisId": row["analysis_id"],
                      "NetworkInsightsAnalysisArn": NETWORK_INSIGHTS_ANALYSIS.arn(ctx, row["analysis_id"]),
                      "NetworkInsightsPathId": row["path_id"], "StartDate": row["started_at"],
                      "Status": status or current, "Tags": tags}
    if row["filter_in_arns"]:
        output["FilterInArns"] = row["filter_in_arns"]
    if status is None and current == probes.SUCCEEDED:
        output["NetworkPathFound"] = row["path_found"]
        output.update({k: v for k, v in row["result"].items() if v})
        warning = probes.warning_message(outcome, row["path_found"])
        if warning:
            output["WarningMessage"] = warning
    return output


@vpc_operation("StartNetworkInsightsAnalysis", resources=arns((NETWORK_INSIGHTS_PATH, "NetworkInsightsPathId"),
                                                              (NETWORK_INSIGHTS_ANALYSIS, NEW)))
def start_network_insights_analysis(ctx: RequestContext, params: Params) -> Params:
    for unsupported in ("AdditionalAccounts", "FilterOutArns"):
        if params.get(unsupported):
            raise UnsupportedOperation(f"{unsupported} is not supported by this cloud's Reachability Analyzer.")
    filter_in_arns = list(params.get("FilterInArns") or [])
    table, token = state.analyses, params.get("ClientToken")
    with ctx.cloud.db.read() as conn:
        path = lookups.fetch(conn, NETWORK_INSIGHTS_PATH, params.get("NetworkInsightsPathId"),
                     ctx.account_id)
        rows = load_network(conn)
    verdict = _required_components(analysis.analyze(snapshot.build(rows, ctx.cloud.config), query_of(path)),
                                   filter_in_arns)
    with ctx.cloud.db.begin() as conn:
        if token:
            earlier = conn.execute(select(table).where(table.c.account_id == ctx.account_id,
                                                       table.c.client_token == token)).mappings().first()
            if earlier is not None:
                if earlier["path_id"] != path["path_id"] or earlier["filter_in_arns"] != filter_in_arns:
                    raise IdempotentParameterMismatch("The client token has already been used with a different "
                                                      "request.")
                tags = tags_of(conn, ctx.account_id, [earlier["analysis_id"]])[earlier["analysis_id"]]
                return {"NetworkInsightsAnalysis": analysis_output(ctx, earlier, tags)}
        analysis_id = NETWORK_INSIGHTS_ANALYSIS.new_id()
        probe = dataclasses.asdict(verdict.probe)
        planned = probes.plan(conn, analysis_id, probe)
        probe["outcome"] = probes.unprobed(planned) if isinstance(planned, str) else None
        row = {"analysis_id": analysis_id, "account_id": ctx.account_id, "path_id": path["path_id"],
               "filter_in_arns": filter_in_arns, "path_found": verdict.path_found,
               "status": probes.SUCCEEDED if probe["outcome"] else probes.RUNNING,
               "result": {"ForwardPathComponents": list(verdict.forward),
                          "ReturnPathComponents": list(verdict.returning),
                          "Explanations": list(verdict.explanations)},
               "probe": probe, "client_token": token, "started_at": utcnow()}
        conn.execute(table.insert().values(**row))
        if probe["outcome"] is None:
            generation.bump(conn)  # the sending host's ``probes`` section changed
        new_tags = tag_new_resource(conn, ctx.account_id, NETWORK_INSIGHTS_ANALYSIS, analysis_id,
                                    params.get("TagSpecifications"))
    ctx.audit_resources.append(NETWORK_INSIGHTS_ANALYSIS.arn(ctx, analysis_id))
    return {"NetworkInsightsAnalysis": analysis_output(ctx, row, new_tags, status="running")}


#: API_DescribeNetworkInsightsAnalyses.html
ANALYSIS_FILTERS = {"path-found": "NetworkPathFound", "status": "Status"}


def _in_window(item: Params, params: Params) -> bool:
    """Whether an analysis started within AnalysisStartTime..AnalysisEndTime (either end open)."""
    started: dt.datetime = to_utc(item["StartDate"])
    after, before = params.get("AnalysisStartTime"), params.get("AnalysisEndTime")
    return (after is None or started >= to_utc(after)) and (before is None or started <= to_utc(before))


@vpc_operation("DescribeNetworkInsightsAnalyses")
def describe_network_insights_analyses(ctx: RequestContext, params: Params) -> Params:
    table = state.analyses
    query = select(table).where(table.c.account_id == ctx.account_id)
    if params.get("NetworkInsightsPathId"):
        query = query.where(table.c.path_id == params["NetworkInsightsPathId"])
    with ctx.cloud.db.read() as conn:
        rows = conn.execute(query).mappings().all()
        tags = tags_of(conn, ctx.account_id, [r["analysis_id"] for r in rows])
    items = [item for item in (analysis_output(ctx, r, tags[r["analysis_id"]]) for r in rows)
             if _in_window(item, params)]
    listed, token = describe(items, params, key="NetworkInsightsAnalysisId", ids_param="NetworkInsightsAnalysisIds",
                             kind=NETWORK_INSIGHTS_ANALYSIS, page_limits=(1, 100), fields=ANALYSIS_FILTERS)
    return listing("NetworkInsightsAnalyses", listed, token)


@vpc_operation("DeleteNetworkInsightsAnalysis",
               resources=arns((NETWORK_INSIGHTS_ANALYSIS, "NetworkInsightsAnalysisId")))
def delete_network_insights_analysis(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.begin() as conn:
        row = lookups.fetch(conn, NETWORK_INSIGHTS_ANALYSIS,
                    params.get("NetworkInsightsAnalysisId"), ctx.account_id)
        conn.execute(delete(state.analyses).where(state.analyses.c.analysis_id == row["analysis_id"]))
        drop_tags(conn, [row["analysis_id"]])
    return {"NetworkInsightsAnalysisId": row["analysis_id"]}
