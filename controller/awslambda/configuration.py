"""A function's configuration: made from a request (checked against IAM, EC2, KMS and the layers), stored, read back.

The stored document (a ``lambda_versions.config``) holds FunctionConfiguration's members with the
environment sealed (controller/awslambda/environment.py) and the code's store key, so publishing a
version copies it unchanged and :func:`render` gives every read the same shape Lambda answers
(https://docs.aws.amazon.com/lambda/latest/api/API_FunctionConfiguration.html).
"""

from __future__ import annotations

import platform
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, select

from controller.api import RequestContext
from controller.awslambda import environment, layers, state, validation
from controller.awslambda.code_source import MAX_UNZIPPED, Package
from controller.awslambda.errors import InvalidParameterValueException
from controller.awslambda.records import LATEST, function_arn
from controller.ec2 import ids, lookups
from controller.efs import records as efs_records
from controller.efs import state as efs_state
from controller.errors import ServiceError
from controller.iam.enforce import check_action, would_allow
from controller.iam.lookup import role_by_arn
from controller.iam.policy.trust import service_may_assume

LAMBDA_PRINCIPAL = "lambda.amazonaws.com"
#: Members a request sets that the stored document keeps as given (None when absent).
_PLAIN = ("Runtime", "Handler", "Description")


def host_architecture() -> str:
    """The architecture Lambda here runs functions on: the controller's own (agents run on alike hosts)."""
    return "arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64"


def check_role(ctx: RequestContext, role_arn: str, function: str) -> None:
    """The caller may pass the role, and the role trusts Lambda (for this function: ``aws:SourceArn`` and
    ``aws:SourceAccount`` are set, so confused-deputy conditions in the trust policy work), as CreateFunction
    requires."""
    # As Lambda: the caller's iam:PassRole, refused in Lambda's own AccessDeniedException form.
    check_action(replace(ctx, condition_keys={**ctx.condition_keys, "iam:PassedToService": LAMBDA_PRINCIPAL}),
                 "iam:PassRole", [role_arn])
    with ctx.cloud.db.read() as conn:
        role = role_by_arn(conn, role_arn)  # the exact ARN: the one invocations will assume
    if role is None or not service_may_assume(
            role["trust_policy"], LAMBDA_PRINCIPAL, role["account_id"], ctx.region,
            {"aws:SourceArn": function_arn(ctx.region, ctx.account_id, function), "aws:SourceAccount": ctx.account_id}):
        raise InvalidParameterValueException("The role defined for the function cannot be assumed by Lambda.")


def vpc_config(conn: Connection, ctx: RequestContext, given: dict[str, Any]) -> dict[str, Any]:
    """VpcConfig with its VpcId, after EC2 knows every subnet and security group (of one VPC)."""
    subnet_ids = list(given.get("SubnetIds") or [])
    group_ids = list(given.get("SecurityGroupIds") or [])
    if not subnet_ids and not group_ids:
        return {"SubnetIds": [], "SecurityGroupIds": [], "VpcId": ""}
    vpcs = set()
    for kind, resource_id, call in [(ids.SUBNET, s, "DescribeSubnets") for s in subnet_ids] + \
                                   [(ids.SECURITY_GROUP, g, "DescribeSecurityGroups") for g in group_ids]:
        row = lookups.find(conn, kind, resource_id) if kind.well_formed(resource_id) else None
        if row is None or row["account_id"] != ctx.account_id:
            raise InvalidParameterValueException(
                f"Error occurred while {call}. EC2 Error Code: {kind.not_found_code}. EC2 Error Message: "
                f"{kind.not_found.format(resource_id)}")
        vpcs.add(row["vpc_id"])
    if len(vpcs) > 1:
        raise InvalidParameterValueException("Security groups and subnets must belong to the same VPC.")
    return {"SubnetIds": subnet_ids, "SecurityGroupIds": group_ids, "VpcId": vpcs.pop(),
            "Ipv6AllowedForDualStack": bool(given.get("Ipv6AllowedForDualStack"))}


def check_file_systems(conn: Connection, ctx: RequestContext, configs: list[dict[str, Any]],
                       vpc: dict[str, Any]) -> None:
    """Each EFS access point exists, and its file system has a mount target in every zone of the function's
    subnets, as Lambda checks (https://docs.aws.amazon.com/lambda/latest/dg/configuration-filesystem.html)."""
    if not vpc.get("SubnetIds"):
        raise InvalidParameterValueException("A function with a file system configuration must be connected to "
                                             "a VPC: give VpcConfig with subnets where the file system has mount "
                                             "targets.")
    zones = {lookups.find(conn, ids.SUBNET, subnet)["availability_zone"] for subnet in vpc["SubnetIds"]}
    for config in configs:
        access_point_id = config["Arn"].rsplit("/", 1)[-1]
        try:
            access_point = efs_records.access_point(conn, ctx, access_point_id)
        except ServiceError:
            raise InvalidParameterValueException(f"Access point {config['Arn']} does not exist.") from None
        targets = efs_state.mount_targets
        covered = {row[0] for row in conn.execute(select(targets.c.availability_zone).where(
            targets.c.file_system_id == access_point["file_system_id"]))}
        if not zones <= covered:
            raise InvalidParameterValueException(
                f"EFS file system {efs_records.file_system_arn(ctx, access_point['file_system_id'])} referenced by "
                f"access point {config['Arn']} does not have mount targets created in all availability zones the "
                "function will execute in. Please create EFS mount targets in availability zones where the function "
                "has a corresponding subnet provided.")


def layer_versions(conn: Connection, ctx: RequestContext, arns: list[str]) -> list[dict[str, Any]]:
    """Each layer version the function names, in its order, with its code's size and store key."""
    resolved = []
    for arn in validation.check_layers(arns):
        parts = arn.split(":")
        row = None
        if len(parts) == 8 and parts[5] == "layer" and parts[7].isdigit():
            t = state.layer_versions
            row = conn.execute(select(t).where(t.c.account_id == parts[4], t.c.region == parts[3],
                                               t.c.layer_name == parts[6], t.c.version == int(parts[7]))).mappings().first()
        if row is None or not _may_use_layer(ctx, row, arn):
            raise InvalidParameterValueException(f"Layer version {arn} does not exist.")
        document = row["document"]
        resolved.append({"Arn": arn, "CodeSize": document["CodeSize"], "CodeShaHex": document["CodeShaHex"],
                         "UnzippedSize": document.get("UnzippedSize", 0)})
    return resolved


def _may_use_layer(ctx: RequestContext, row: Any, arn: str) -> bool:
    """The caller's account owns the layer, or IAM lets the caller read it under the layer's policy."""
    if row["account_id"] == ctx.account_id:
        return True
    info = layers.layer_resource_info(ctx, arn)
    return info is not None and info.policy is not None and would_allow(ctx, "lambda:GetLayerVersion", arn, info)


def check_total_size(code: dict[str, Any]) -> None:
    total = code.get("UnzippedSize", 0) + sum(layer.get("UnzippedSize", 0) for layer in code.get("Layers", []))
    if total > MAX_UNZIPPED:
        raise InvalidParameterValueException(f"Function code combined with layers exceeds the maximum allowed size "
                                             f"of {MAX_UNZIPPED} bytes. The actual size is {total} bytes.")


def with_package(document: dict[str, Any], package: Package) -> dict[str, Any]:
    """The document with new code."""
    updated = {**document, "CodeSha256": package.ref.sha256_b64, "CodeShaHex": package.ref.sha256_hex,
               "CodeSize": package.ref.size, "UnzippedSize": package.unzipped_size}
    if package.image_uri:
        updated["ImageUri"] = package.image_uri
    return updated


def apply(conn: Connection, ctx: RequestContext, name: str, params: dict[str, Any],
          current: dict[str, Any] | None) -> dict[str, Any]:
    """The stored configuration after CreateFunction (``current`` None) or UpdateFunctionConfiguration."""
    document = dict(current or {"FunctionName": name, "MemorySize": validation.DEFAULT_MEMORY,
                                "Timeout": validation.DEFAULT_TIMEOUT, "Description": "",
                                "EphemeralStorage": {"Size": validation.DEFAULT_EPHEMERAL},
                                "TracingConfig": {"Mode": "PassThrough"}, "Layers": [],
                                "State": "Active", "LastUpdateStatus": "Successful"})
    for member in _PLAIN:
        if member in params and params[member] is not None:
            document[member] = params[member]
    validation.check_runtime(params.get("Runtime"))
    validation.check_range(params.get("MemorySize"), "memorySize", validation.MEMORY_RANGE)
    validation.check_range(params.get("Timeout"), "timeout", validation.TIMEOUT_RANGE)
    ephemeral = (params.get("EphemeralStorage") or {}).get("Size")
    validation.check_range(ephemeral, "ephemeralStorage.size", validation.EPHEMERAL_RANGE)
    for member in ("MemorySize", "Timeout"):
        if params.get(member) is not None:
            document[member] = params[member]
    if ephemeral is not None:
        document["EphemeralStorage"] = {"Size": ephemeral}
    if params.get("Role"):
        check_role(ctx, params["Role"], name)
        document["Role"] = params["Role"]
    document["TracingConfig"] = validation.tracing(params.get("TracingConfig"), document.get("TracingConfig"))
    document["LoggingConfig"] = validation.logging_config(params.get("LoggingConfig"), name,
                                                          document.get("LoggingConfig"))
    if params.get("ImageConfig") is not None:
        document["ImageConfig"] = validation.image_config(params["ImageConfig"])
    if params.get("FileSystemConfigs") is not None:
        document["FileSystemConfigs"] = validation.file_systems(params["FileSystemConfigs"])
    if params.get("VpcConfig") is not None:
        document["VpcConfig"] = vpc_config(conn, ctx, params["VpcConfig"])
    if document.get("FileSystemConfigs"):
        check_file_systems(conn, ctx, document["FileSystemConfigs"], document.get("VpcConfig") or {})
    if params.get("Layers") is not None:
        document["Layers"] = layer_versions(conn, ctx, params["Layers"])
    dead_letter = validation.dead_letter(params.get("DeadLetterConfig"))
    if dead_letter is not None:
        document["DeadLetterConfig"] = dead_letter
    if document.get("DeadLetterConfig") == {}:
        document.pop("DeadLetterConfig")
    _apply_environment(ctx, name, params, document)
    return document


def _apply_environment(ctx: RequestContext, name: str, params: dict[str, Any], document: dict[str, Any]) -> None:
    key_changed = "KMSKeyArn" in params and params["KMSKeyArn"] is not None
    if key_changed:
        if params["KMSKeyArn"]:
            document["KMSKeyArn"] = params["KMSKeyArn"]
        else:
            document.pop("KMSKeyArn", None)
    arn = function_arn(ctx.region, ctx.account_id, name)
    if params.get("Environment") is not None:
        variables = params["Environment"].get("Variables") or {}
    elif key_changed and document.get("Environment"):
        variables = environment.unseal(ctx.cloud, ctx.account_id, arn, document["Environment"])
    else:
        return
    environment.check(variables)
    document["Environment"] = environment.seal(ctx.cloud, ctx.account_id, arn, variables, document.get("KMSKeyArn"),
                                               ctx)


def render(ctx: RequestContext, account_id: str, row: dict[str, Any]) -> dict[str, Any]:
    """FunctionConfiguration as Lambda answers it, for a ``lambda_versions`` row."""
    document, version = row["config"], row["version"]
    name = document["FunctionName"]
    arn = function_arn(row["region"], account_id, name)
    output: dict[str, Any] = {
        "FunctionName": name, "FunctionArn": arn if version == LATEST else f"{arn}:{version}",
        "Role": document.get("Role"), "CodeSize": document["CodeSize"], "Description": document.get("Description", ""),
        "Timeout": document["Timeout"], "MemorySize": document["MemorySize"], "LastModified": row["last_modified"],
        "CodeSha256": document["CodeSha256"], "Version": version, "TracingConfig": document["TracingConfig"],
        "RevisionId": row["revision_id"], "State": document.get("State", "Active"),
        "LastUpdateStatus": document.get("LastUpdateStatus", "Successful"),
        "PackageType": document.get("PackageType", "Zip"), "Architectures": document.get("Architectures", ["x86_64"]),
        "EphemeralStorage": document["EphemeralStorage"], "LoggingConfig": document["LoggingConfig"],
        "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
    }
    for member in ("Runtime", "Handler", "KMSKeyArn", "DeadLetterConfig", "VpcConfig", "FileSystemConfigs"):
        if document.get(member) is not None:
            output[member] = document[member]
    if document.get("Layers"):
        output["Layers"] = [{"Arn": layer["Arn"], "CodeSize": layer["CodeSize"]} for layer in document["Layers"]]
    if document.get("Environment"):
        output["Environment"] = environment.readable(ctx.cloud, account_id, arn, document["Environment"])
    if output["PackageType"] == "Image":
        output["ImageConfigResponse"] = {"ImageConfig": document.get("ImageConfig") or {}}
    return output
