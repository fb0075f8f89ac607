"""Reserved concurrency (Put/Get/DeleteFunctionConcurrency) and GetAccountSettings.

The account may run 1,000 executions at once, AWS's default quota; reservations may not leave fewer
than 100 unreserved for the other functions, as Lambda enforces
(https://docs.aws.amazon.com/lambda/latest/dg/configuring-concurrency.html).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select, update

from controller.api import RequestContext
from controller.awslambda import records, state
from controller.awslambda.code_source import MAX_DIRECT_ZIP, MAX_UNZIPPED
from controller.awslambda.errors import InvalidParameterValueException
from controller.awslambda.service import api

ACCOUNT_CONCURRENCY = 1000
MIN_UNRESERVED = 100
TOTAL_CODE_SIZE = 80 * 1024 ** 3


def _reserved_elsewhere(conn: Connection, ctx: RequestContext, name: str) -> int:
    t = state.functions
    return conn.execute(select(func.coalesce(func.sum(t.c.reserved_concurrency), 0)).where(
        t.c.account_id == ctx.account_id, t.c.region == ctx.region, t.c.name != name)).scalar() or 0


def _set(conn: Connection, ref: records.FunctionRef, value: int | None) -> None:
    t = state.functions
    conn.execute(update(t).where(t.c.account_id == ref.account_id, t.c.region == ref.region,
                                 t.c.name == ref.name).values(reserved_concurrency=value))


@api.operation("PutFunctionConcurrency", resources=records.resources)
def put_function_concurrency(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ref = records.ref_of(ctx, params, qualified=False)
    reserved = params["ReservedConcurrentExecutions"]
    with records.writing(ctx.cloud) as conn:
        records.function_row(conn, ref)
        if ACCOUNT_CONCURRENCY - _reserved_elsewhere(conn, ctx, ref.name) - reserved < MIN_UNRESERVED:
            raise InvalidParameterValueException(
                "Specified ReservedConcurrentExecutions for function decreases account's "
                f"UnreservedConcurrentExecution below its minimum value of [{MIN_UNRESERVED}].")
        _set(conn, ref, reserved)
    return {"ReservedConcurrentExecutions": reserved}


@api.operation("GetFunctionConcurrency", resources=records.resources)
def get_function_concurrency(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ref = records.ref_of(ctx, params, qualified=False)
    with ctx.cloud.db.read() as conn:
        reserved = records.function_row(conn, ref)["reserved_concurrency"]
    return {} if reserved is None else {"ReservedConcurrentExecutions": reserved}


@api.operation("DeleteFunctionConcurrency", resources=records.resources)
def delete_function_concurrency(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ref = records.ref_of(ctx, params, qualified=False)
    with records.writing(ctx.cloud) as conn:
        records.function_row(conn, ref)
        _set(conn, ref, None)
    return {}


@api.operation("GetAccountSettings")
def get_account_settings(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    functions, versions, layers = state.functions, state.versions, state.layer_versions
    with ctx.cloud.db.read() as conn:
        count = conn.execute(select(func.count()).select_from(functions).where(
            functions.c.account_id == ctx.account_id, functions.c.region == ctx.region)).scalar() or 0
        reserved = _reserved_elsewhere(conn, ctx, "")
        code_sizes = [row["config"].get("CodeSize", 0) for row in conn.execute(select(versions.c.config).where(
            versions.c.account_id == ctx.account_id, versions.c.region == ctx.region)).mappings()]
        layer_sizes = [row["document"].get("CodeSize", 0) for row in conn.execute(select(layers.c.document).where(
            layers.c.account_id == ctx.account_id, layers.c.region == ctx.region)).mappings()]
    return {"AccountLimit": {"TotalCodeSize": TOTAL_CODE_SIZE, "CodeSizeUnzipped": MAX_UNZIPPED,
                             "CodeSizeZipped": MAX_DIRECT_ZIP, "ConcurrentExecutions": ACCOUNT_CONCURRENCY,
                             "UnreservedConcurrentExecutions": ACCOUNT_CONCURRENCY - reserved},
            "AccountUsage": {"TotalCodeSize": sum(code_sizes) + sum(layer_sizes), "FunctionCount": count}}


# -- settings a function here always has the default of ---------------------------------------------------------
# Cloudlet offers no code signing, runtime pinning, recursion opt-out, provisioned concurrency or function URLs,
# so every function has AWS's default for each; tools (Terraform, SAM) read them after every create.

@api.operation("GetFunctionCodeSigningConfig", resources=records.resources)
def get_function_code_signing_config(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ref = records.ref_of(ctx, params, qualified=False)
    with ctx.cloud.db.read() as conn:
        records.function_row(conn, ref)
    return {"CodeSigningConfigArn": "", "FunctionName": ref.name}


@api.operation("GetRuntimeManagementConfig", resources=records.resources)
def get_runtime_management_config(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ref = records.ref_of(ctx, params)
    with ctx.cloud.db.read() as conn:
        row = records.version_of(conn, ref)
    arn = records.function_arn(ref.region, ref.account_id, ref.name)
    return {"UpdateRuntimeOn": "Auto", "FunctionArn": arn if row["version"] == records.LATEST else
            f"{arn}:{row['version']}"}


@api.operation("GetFunctionRecursionConfig", resources=records.resources)
def get_function_recursion_config(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ref = records.ref_of(ctx, params, qualified=False)
    with ctx.cloud.db.read() as conn:
        records.function_row(conn, ref)
    return {"RecursiveLoop": "Terminate"}


@api.operation("ListProvisionedConcurrencyConfigs", resources=records.resources)
def list_provisioned_concurrency_configs(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ref = records.ref_of(ctx, params, qualified=False)
    with ctx.cloud.db.read() as conn:
        records.function_row(conn, ref)
    return {"ProvisionedConcurrencyConfigs": []}


@api.operation("ListFunctionUrlConfigs", resources=records.resources)
def list_function_url_configs(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ref = records.ref_of(ctx, params, qualified=False)
    with ctx.cloud.db.read() as conn:
        records.function_row(conn, ref)
    return {"FunctionUrlConfigs": []}
