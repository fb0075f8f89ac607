"""PutParameter, DeleteParameter and DeleteParameters.

PutParameter makes version 1 of a new parameter, or with ``Overwrite`` the next version of an existing one
(its description, allowed pattern, tier and data type carry over unless given again). A parameter keeps its
100 newest versions: the oldest is dropped to make room, unless it carries a label
(ParameterMaxVersionLimitExceeded). Values are checked against the tier's size (Standard 4 KB, Advanced
8 KB; ``Intelligent-Tiering`` picks Advanced only when the value or policies need it; an Advanced parameter
never goes back to Standard), the ``AllowedPattern`` and the data type (``aws:ec2:image`` values must name an
AMI the caller can launch). SecureString values are encrypted under KMS before anything is written
(:mod:`controller.ssm.crypto`).
"""

from __future__ import annotations

import re
import time
from typing import Any

from sqlalchemy import delete, insert, select, update

from controller.api import Params, RequestContext
from controller.ec2.instances.images import launchable_image
from controller.errors import ServiceError, error
from controller.ssm import crypto, names, policies, records
from controller.ssm.filters import TIERS, TYPES
from controller.ssm.service import api
from controller.ssm.state import parameters, versions

ParameterAlreadyExists = error("ParameterAlreadyExists")
ParameterMaxVersionLimitExceeded = error("ParameterMaxVersionLimitExceeded")
UnsupportedParameterType = error("UnsupportedParameterType")
ParameterPatternMismatchException = error("ParameterPatternMismatchException")
InvalidAllowedPatternException = error("InvalidAllowedPatternException")
TooManyTagsError = error("TooManyTagsError")

MAX_VERSIONS = 100
MAX_TAGS = 50
TIER_LIMITS = {"Standard": 4096, "Advanced": 8192}
DATA_TYPES = ("text", "aws:ec2:image", "aws:ssm:integration")
_AMI_ID = re.compile(r"^ami-[0-9a-f]{8,17}$")


def name_arns(ctx: RequestContext, params: Params) -> list[str]:
    """The ARN IAM checks for the operation's ``Name``."""
    return [names.reference_arn(ctx.cloud.config.partition, ctx.region, ctx.account_id, params["Name"])]


def _tier(requested: str | None, prior_tier: str | None, size: int, has_policies: bool) -> str:
    """The tier the new version gets, or AWS's ValidationException."""
    if requested is not None and requested not in TIERS:
        raise names.ValidationException(f"1 validation error detected: Value '{requested}' at 'tier' failed to "
                                        f"satisfy constraint: Member must satisfy enum value set: [{', '.join(TIERS)}]")
    if requested == "Intelligent-Tiering":
        needs_advanced = prior_tier == "Advanced" or size > TIER_LIMITS["Standard"] or has_policies
        tier = "Advanced" if needs_advanced else "Standard"
    else:
        tier = requested or prior_tier or "Standard"
    if prior_tier == "Advanced" and tier == "Standard":
        raise names.ValidationException(
            "This parameter uses the advanced-parameter tier. You can't downgrade a parameter from the "
            "advanced-parameter tier to the standard-parameter tier. If necessary, you can delete the advanced "
            "parameter and recreate it as a standard parameter.")
    if size > TIER_LIMITS[tier]:
        if tier == "Standard":
            raise names.ValidationException(
                "Standard tier parameters support a maximum parameter value of 4096 characters. To create a "
                "larger parameter value, upgrade the parameter to use the advanced-parameter tier. For more "
                "information, see https://docs.aws.amazon.com/systems-manager/latest/userguide/"
                "parameter-store-advanced-parameters.html")
        raise names.ValidationException("Advanced tier parameters support a maximum parameter value of 8192 "
                                        "characters.")
    if has_policies and tier == "Standard":
        raise names.ValidationException(
            "Parameter policies are supported only for advanced parameters. To assign policies to this parameter, "
            "set its tier to Advanced or Intelligent-Tiering.")
    return tier


def _check_pattern(pattern: str | None, value: str) -> None:
    if not pattern:
        return
    try:
        compiled = re.compile(pattern)
    except re.error:
        raise InvalidAllowedPatternException(f"The request includes an invalid regular expression: {pattern}") \
            from None
    if not compiled.fullmatch(value):
        raise ParameterPatternMismatchException(f"Parameter value, cannot be validated against allowedPattern: "
                                                f"{pattern}")


def _check_data_type(ctx: RequestContext, data_type: str, type_: str, value: str) -> None:
    if data_type not in DATA_TYPES:
        raise names.ValidationException(f"The following data type is not supported: {data_type} (Data type names "
                                        f"are all lowercase.)")
    if data_type == "text":
        return
    if type_ != "String":
        raise names.ValidationException(f"The data type {data_type} can be used with String parameters only.")
    if data_type == "aws:ec2:image":
        if not _AMI_ID.match(value):
            raise names.ValidationException(f"Parameter value, {value}, must be an AMI id of the form "
                                            "ami-12345abc or ami-12345678901234567 for data type aws:ec2:image.")
        try:
            with ctx.cloud.db.read() as conn:
                launchable_image(conn, ctx.account_id, value)
        except ServiceError as exc:
            raise names.ValidationException(f"Parameter value, {value}, is not an AMI this account can use "
                                            f"({exc.code}: {exc.message}).") from None


def _tags(raw: list[dict[str, str]] | None) -> dict[str, str]:
    tags = {tag["Key"]: tag.get("Value", "") for tag in raw or []}
    if len(tags) > MAX_TAGS:
        raise TooManyTagsError(f"A parameter can have at most {MAX_TAGS} tags.")
    return tags


@api.operation("PutParameter", resources=name_arns)
def put_parameter(ctx: RequestContext, params: Params) -> Params:
    name, value = names.check_name(params["Name"]), params["Value"]
    type_, overwrite, tags = params.get("Type"), bool(params.get("Overwrite")), _tags(params.get("Tags"))
    if type_ is not None and type_ not in TYPES:
        raise UnsupportedParameterType(f"The parameter type {type_} is not supported. Valid types: "
                                       f"{', '.join(TYPES)}.")
    if not value:
        raise names.ValidationException("1 validation error detected: Value '' at 'value' failed to satisfy "
                                        "constraint: Member must have length greater than or equal to 1.")
    if overwrite and tags:
        raise names.ValidationException(
            "Invalid request: tags and overwrite can't be used together. To create a parameter with tags, please "
            "remove overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or "
            "RemoveTagsFromResource.")
    with ctx.cloud.db.read() as conn:
        existing = records.find(conn, ctx, name)
        prior: Any = records.version_rows(conn, ctx, name)[-1] if existing is not None else None
    if existing is not None and not overwrite:
        raise ParameterAlreadyExists("The parameter already exists. To overwrite this value, set the overwrite "
                                     "option in the request to true.")
    if prior is None and type_ is None:
        raise names.ValidationException("A parameter type is required when you create a parameter.")
    type_ = type_ or prior["type"]
    if params.get("KeyId") and type_ != "SecureString":
        raise names.ValidationException("KeyId is required for SecureString type parameter only.")
    inline, expires_at = policies.parse(params["Policies"], time.time()) if params.get("Policies") else ([], None)
    tier = _tier(params.get("Tier"), prior["tier"] if prior else None, len(value.encode()), bool(inline))
    allowed_pattern = params.get("AllowedPattern", prior["allowed_pattern"] if prior else None)
    _check_pattern(allowed_pattern, value)
    data_type = params.get("DataType") or (prior["data_type"] if prior else "text")
    _check_data_type(ctx, data_type, type_, value)
    arn = records.arn_of(ctx, name)
    stored, key_id, key_arn = value, None, None
    if type_ == "SecureString":
        key_id = params.get("KeyId") or crypto.DEFAULT_KEY
        stored, key_arn = crypto.encrypt(ctx, key_id, arn, value)
    row = {"type": type_, "value": stored, "key_id": key_id, "key_arn": key_arn,
           "description": params.get("Description", prior["description"] if prior else None),
           "allowed_pattern": allowed_pattern, "tier": tier, "data_type": data_type, "policies": inline,
           "labels": [], "modified_at": time.time(), "modified_user": ctx.principal.arn}
    where = {"account_id": ctx.account_id, "region": ctx.region, "name": name}
    with ctx.cloud.db.begin() as conn:
        records.purge_expired(conn, ctx)
        current = records.find(conn, ctx, name)
        if current is not None and not overwrite:
            raise ParameterAlreadyExists("The parameter already exists. To overwrite this value, set the "
                                         "overwrite option in the request to true.")
        version = (current["version"] if current is not None else 0) + 1
        if current is None:
            conn.execute(insert(parameters).values(**where, version=version, tags=tags, expires_at=expires_at))
        else:
            _make_room(conn, ctx, name)
            conn.execute(update(parameters).where(*_match(where)).values(version=version, expires_at=expires_at))
        conn.execute(insert(versions).values(**where, version=version, **row))
    ctx.audit_resources.append(arn)
    return {"Version": version, "Tier": tier}


def _match(where: dict[str, str]) -> list[Any]:
    return [parameters.c.account_id == where["account_id"], parameters.c.region == where["region"],
            parameters.c.name == where["name"]]


def _make_room(conn: Any, ctx: RequestContext, name: str) -> None:
    """Drop the oldest version when the parameter has 100 already (refused while it carries labels)."""
    rows = records.version_rows(conn, ctx, name)
    if len(rows) < MAX_VERSIONS:
        return
    oldest = rows[0]
    if oldest["labels"]:
        raise ParameterMaxVersionLimitExceeded(
            f"You attempted to create a new version of {name} by calling the PutParameter API with the overwrite "
            f"flag. Version {oldest['version']}, the oldest version, can't be deleted because it has a label "
            "associated with it. Move the label to another version of the parameter, and try again.")
    conn.execute(delete(versions).where(versions.c.account_id == ctx.account_id, versions.c.region == ctx.region,
                                        versions.c.name == name, versions.c.version == oldest["version"]))


def _delete(ctx: RequestContext, name: str) -> bool:
    with ctx.cloud.db.begin() as conn:
        records.purge_expired(conn, ctx)
        if conn.execute(select(parameters.c.name).where(
                parameters.c.account_id == ctx.account_id, parameters.c.region == ctx.region,
                parameters.c.name == name)).first() is None:
            return False
        records.remove(conn, ctx, name)
    return True


@api.operation("DeleteParameter", resources=name_arns)
def delete_parameter(ctx: RequestContext, params: Params) -> Params:
    name = records.own_name(ctx, params["Name"])
    if not _delete(ctx, name):
        raise records.ParameterNotFound(f"Parameter {name} not found.")
    return {}


def names_arns(ctx: RequestContext, params: Params) -> list[str]:
    return [names.reference_arn(ctx.cloud.config.partition, ctx.region, ctx.account_id, name)
            for name in params["Names"]]


def check_names_count(given: list[str]) -> None:
    """GetParameters and DeleteParameters take 1 to 10 names (Coral's wording)."""
    if len(given) > 10:
        raise names.ValidationException(f"1 validation error detected: Value '[{', '.join(given)}]' at 'names' "
                                        "failed to satisfy constraint: Member must have length less than or equal "
                                        "to 10.")


@api.operation("DeleteParameters", resources=names_arns)
def delete_parameters(ctx: RequestContext, params: Params) -> Params:
    check_names_count(params["Names"])
    deleted, invalid = [], []
    for name in params["Names"]:
        (deleted if _delete(ctx, records.own_name(ctx, name)) else invalid).append(name)
    return {"DeletedParameters": deleted, "InvalidParameters": invalid}
