"""ListCommands, ListCommandInvocations and GetCommandInvocation: where Run Command's work stands, with its output.

Newest commands come first. An invocation's output is what its agent replied: the first 24,000 characters of
standard output and 8,000 of standard error (``GetCommandInvocation``), the first 2,500 in a plugin's ``Output``
(``ListCommandInvocations`` with ``Details``), and the full streams in S3 when the command named a bucket.
Every read first settles the invocations whose delivery deadline passed.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from sqlalchemy import Connection, RowMapping, select

from controller.api import Params, RequestContext
from controller.errors import error
from controller.ssm import names
from controller.ssm.commands import (
    PLUGIN,
    InvalidCommandId,
    account_command,
    command_output,
    document_arn,
    known_instance,
    settle_expired,
)
from controller.ssm.fleet_state import commands, invocations, managed_instances
from controller.ssm.registration import InvalidInstanceId
from controller.ssm.service import api

InvocationDoesNotExist = error("InvocationDoesNotExist")
InvalidPluginName = error("InvalidPluginName")
InvalidFilterKey = error("InvalidFilterKey")
InvalidFilterValue = error("InvalidFilterValue")

_OUTPUT_PREVIEW = 2500
_FILTER_KEYS = ("InvokedAfter", "InvokedBefore", "Status", "DocumentName", "ExecutionStage")


def _check_instance(conn: Connection, ctx: RequestContext, instance_id: str | None) -> None:
    if instance_id is not None and not known_instance(conn, ctx, instance_id):
        raise InvalidInstanceId(f"Instance Id {instance_id} is not valid or is not registered with Systems Manager.")


def _time_filter(value: str) -> float:
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise InvalidFilterValue(f"The filter value {value} is not a valid date (use ISO 8601, for example "
                                 "2024-01-01T00:00:00Z).") from None


def _filtered(output: Params, filters: list[dict[str, str]]) -> bool:
    for item in filters:
        key, value = item["key"], item["value"]
        if key not in _FILTER_KEYS:
            raise InvalidFilterKey(f"The filter key {key} is not valid.")
        if key == "InvokedAfter" and output["RequestedDateTime"] < _time_filter(value):
            return False
        if key == "InvokedBefore" and output["RequestedDateTime"] > _time_filter(value):
            return False
        if key == "Status" and output["Status"] != value:
            return False
        if key == "DocumentName" and output["DocumentName"] != value:
            return False
        if key == "ExecutionStage" and (value == "Executing") != (output["Status"] in ("Pending", "InProgress",
                                                                                       "Cancelling")):
            return False
    return True


def _commands_query(ctx: RequestContext, params: Params) -> Any:
    query = select(commands).where(commands.c.account_id == ctx.account_id, commands.c.region == ctx.region)
    if params.get("CommandId"):
        query = query.where(commands.c.command_id == params["CommandId"])
    if params.get("InstanceId"):
        query = query.where(commands.c.command_id.in_(select(invocations.c.command_id).where(
            invocations.c.instance_id == params["InstanceId"])))
    return query.order_by(commands.c.requested_at.desc(), commands.c.command_id)


@api.operation("ListCommands")
def list_commands(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.begin() as conn:
        _check_instance(conn, ctx, params.get("InstanceId"))
        rows = list(conn.execute(_commands_query(ctx, params)).mappings())
        if params.get("CommandId") and not rows:
            raise InvalidCommandId(f"Command {params['CommandId']} does not exist.")
        settle_expired(conn, time.time(), [row["command_id"] for row in rows])
        outputs = [command_output(conn, row) for row in rows]
    matched = [output for output in outputs if _filtered(output, params.get("Filters", []))]
    size = names.check_max_results(params.get("MaxResults"), 50)
    chosen, token = names.page_in_order(matched, params.get("NextToken"), size, lambda output: output["CommandId"])
    result: Params = {"Commands": chosen}
    if token:
        result["NextToken"] = token
    return result


def _iso(value: float | None) -> str:
    if value is None:
        return ""
    return dt.datetime.fromtimestamp(value, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _s3_urls(command: RowMapping, row: RowMapping) -> dict[str, str]:
    request = command["request"]
    bucket = request.get("OutputS3BucketName")
    if not bucket:
        return {}
    prefix = request.get("OutputS3KeyPrefix", "")
    base = f"{prefix}/" if prefix else ""
    key = f"{base}{command['command_id']}/{row['instance_id']}/awsrunShellScript/0.awsrunShellScript"
    region = request.get("OutputS3Region") or command["region"]
    url = f"https://s3.{region}.amazonaws.com/{bucket}/{key}"
    return {"StandardOutputUrl": f"{url}/stdout", "StandardErrorUrl": f"{url}/stderr"}


def _plugin(command: RowMapping, row: RowMapping) -> Params:
    request = command["request"]
    plugin: Params = {"Name": PLUGIN, "Status": row["status"], "StatusDetails": row["status_details"],
                      "ResponseCode": row["response_code"], "Output": row["stdout"][:_OUTPUT_PREVIEW],
                      **_s3_urls(command, row)}
    if row["started_at"] is not None:
        plugin["ResponseStartDateTime"] = row["started_at"]
    if row["finished_at"] is not None:
        plugin["ResponseFinishDateTime"] = row["finished_at"]
    for key in ("OutputS3Region", "OutputS3BucketName", "OutputS3KeyPrefix"):
        if key in request:
            plugin[key] = request[key]
    return plugin


def _invocation(command: RowMapping, row: RowMapping, name: str | None, details: bool) -> Params:
    request = command["request"]
    item: Params = {"CommandId": command["command_id"], "InstanceId": row["instance_id"],
                    "DocumentName": request["DocumentName"], "DocumentVersion": request["DocumentVersion"],
                    "RequestedDateTime": command["requested_at"], "Status": row["status"],
                    "StatusDetails": row["status_details"], **_s3_urls(command, row)}
    for key in ("Comment", "NotificationConfig", "CloudWatchOutputConfig"):
        if key in request:
            item[key] = request[key]
    if "ServiceRoleArn" in request:
        item["ServiceRole"] = request["ServiceRoleArn"]
    if name:
        item["InstanceName"] = name
    if details:
        item["CommandPlugins"] = [_plugin(command, row)]
    return item


@api.operation("ListCommandInvocations")
def list_command_invocations(ctx: RequestContext, params: Params) -> Params:
    now = time.time()
    with ctx.cloud.db.begin() as conn:
        _check_instance(conn, ctx, params.get("InstanceId"))
        if params.get("CommandId"):
            account_command(conn, ctx, params["CommandId"])
        command_rows = {row["command_id"]: row for row in conn.execute(_commands_query(ctx, params)).mappings()}
        settle_expired(conn, now, list(command_rows))
        query = select(invocations, managed_instances.c.name, managed_instances.c.computer_name).outerjoin(
            managed_instances, managed_instances.c.instance_id == invocations.c.instance_id).where(
            invocations.c.command_id.in_(list(command_rows)))
        if params.get("InstanceId"):
            query = query.where(invocations.c.instance_id == params["InstanceId"])
        rows = list(conn.execute(query).mappings())
    order = {command_id: index for index, command_id in enumerate(command_rows)}
    rows.sort(key=lambda row: (order[row["command_id"]], row["position"]))
    items = [_invocation(command_rows[row["command_id"]], row, row["name"] or row["computer_name"],
                         bool(params.get("Details"))) for row in rows]
    items = [item for item in items if _filtered(item, params.get("Filters", []))]
    size = names.check_max_results(params.get("MaxResults"), 50)
    chosen, token = names.page_in_order(items, params.get("NextToken"), size,
                                        lambda item: f"{item['CommandId']}/{item['InstanceId']}")
    result: Params = {"CommandInvocations": chosen}
    if token:
        result["NextToken"] = token
    return result


def _elapsed(row: RowMapping) -> str:
    if row["started_at"] is None or row["finished_at"] is None:
        return ""
    return f"PT{max(0.0, row['finished_at'] - row['started_at']):.3f}S"


@api.operation("GetCommandInvocation", resources=lambda ctx, params: [document_arn(ctx)])
def get_command_invocation(ctx: RequestContext, params: Params) -> Params:
    plugin = params.get("PluginName")
    if plugin is not None and plugin != PLUGIN:
        raise InvalidPluginName(f"The plugin name {plugin} is not valid for the document's steps: use {PLUGIN}.")
    with ctx.cloud.db.begin() as conn:
        command = conn.execute(select(commands).where(
            commands.c.command_id == params["CommandId"], commands.c.account_id == ctx.account_id,
            commands.c.region == ctx.region)).mappings().first()
        if command is not None:
            settle_expired(conn, time.time(), [command["command_id"]])
        row = None if command is None else conn.execute(select(invocations).where(
            invocations.c.command_id == command["command_id"],
            invocations.c.instance_id == params["InstanceId"])).mappings().first()
    if command is None or row is None:
        raise InvocationDoesNotExist("An error occurred (InvocationDoesNotExist) when calling the "
                                     "GetCommandInvocation operation")
    request = command["request"]
    urls = _s3_urls(command, row)
    output: Params = {
        "CommandId": command["command_id"], "InstanceId": row["instance_id"],
        "DocumentName": request["DocumentName"], "DocumentVersion": request["DocumentVersion"],
        "PluginName": PLUGIN, "ResponseCode": row["response_code"], "Status": row["status"],
        "StatusDetails": row["status_details"], "StandardOutputContent": row["stdout"],
        "StandardErrorContent": row["stderr"], "StandardOutputUrl": urls.get("StandardOutputUrl", ""),
        "StandardErrorUrl": urls.get("StandardErrorUrl", ""), "ExecutionStartDateTime": _iso(row["started_at"]),
        "ExecutionEndDateTime": _iso(row["finished_at"]), "ExecutionElapsedTime": _elapsed(row),
        "CloudWatchOutputConfig": request.get("CloudWatchOutputConfig",
                                              {"CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": False})}
    if "Comment" in request:
        output["Comment"] = request["Comment"]
    return output
