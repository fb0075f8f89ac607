"""AddTagsToResource, RemoveTagsFromResource and ListTagsForResource, and what IAM sees of a parameter.

``ResourceType`` ``Parameter`` (its ResourceId a name or ARN), ``ManagedInstance`` (a hybrid machine's
``mi-…`` id) and ``Document`` (one of the account's documents, by name) are served here; the other resource
types of Systems Manager are not Cloudlet's yet and answer InvalidResourceType. A resource has at most 50
tags, and IAM reads a parameter's, hybrid machine's or document's as ``aws:ResourceTag/*``
(:func:`resource_info`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from controller.api import Params, RequestContext, ResourceInfo
from controller.ec2.vpc.state import tags as ec2_tags
from controller.errors import error
from controller.ssm import document_content, names, records
from controller.ssm.document_state import documents, find_document
from controller.ssm.fleet_state import managed_instances
from controller.ssm.service import api
from controller.ssm.state import parameters
from controller.ssm.writes import MAX_TAGS, TooManyTagsError

InvalidResourceId = error("InvalidResourceId")
InvalidResourceType = error("InvalidResourceType")


def _arn(ctx: RequestContext, params: Params) -> list[str]:
    partition = ctx.cloud.config.partition
    if params["ResourceType"] == "ManagedInstance":
        return [managed_instance_arn(partition, ctx.region, ctx.account_id, params["ResourceId"])]
    if params["ResourceType"] == "Document":
        return [document_arn(partition, ctx.region, ctx.account_id, params["ResourceId"])]
    name = names.name_of_resource(params["ResourceId"])
    return [names.reference_arn(partition, ctx.region, ctx.account_id, name)]


def managed_instance_arn(partition: str, region: str, account_id: str, instance_id: str) -> str:
    return f"arn:{partition}:ssm:{region}:{account_id}:managed-instance/{instance_id}"


def document_arn(partition: str, region: str, account_id: str, name: str) -> str:
    """A document's ARN: AWS's (reserved names) have no account."""
    account = "" if document_content.is_reserved(name) else account_id
    return f"arn:{partition}:ssm:{region}:{account}:document/{name}"


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in sorted(tags.items())]


def _not_found(resource_id: str) -> InvalidResourceId:
    return InvalidResourceId(f"The resource ID {resource_id} is not valid. Verify the ID and try again.")


def _tags(ctx: RequestContext, params: Params) -> tuple[str, dict[str, str]]:
    """The resource's key (a parameter's name, a managed instance's id) and its tags."""
    kind, resource_id = params["ResourceType"], params["ResourceId"]
    if kind == "ManagedInstance":
        with ctx.cloud.db.read() as conn:
            tags = conn.execute(select(managed_instances.c.tags).where(*_instance_is(ctx, resource_id))).scalar()
        if tags is None:
            raise _not_found(resource_id)
        return resource_id, dict(tags)
    if kind == "Document":
        with ctx.cloud.db.read() as conn:
            document = find_document(conn, ctx.account_id, ctx.region, resource_id)
        if document is None:
            raise _not_found(resource_id)
        return resource_id, dict(document["tags"])
    if kind != "Parameter":
        raise InvalidResourceType(f"The resource type {kind} is not valid for this cloud: only Parameter, "
                                  "ManagedInstance and Document resources can be tagged.")
    name = names.name_of_resource(resource_id)
    with ctx.cloud.db.read() as conn:
        row = records.find(conn, ctx, name)
    if row is None:
        raise _not_found(resource_id)
    return name, dict(row["tags"])


def _instance_is(ctx: RequestContext, instance_id: str) -> tuple[Any, ...]:
    """Hybrid machines only: an EC2 instance's tags are EC2's (CreateTags), as on AWS."""
    return (managed_instances.c.instance_id == instance_id, managed_instances.c.account_id == ctx.account_id,
            managed_instances.c.region == ctx.region, managed_instances.c.resource_type == "ManagedInstance")


def _save(ctx: RequestContext, params: Params, key: str, tags: dict[str, str]) -> None:
    with ctx.cloud.db.begin() as conn:
        if params["ResourceType"] == "ManagedInstance":
            conn.execute(update(managed_instances).where(*_instance_is(ctx, key)).values(tags=tags))
            return
        if params["ResourceType"] == "Document":
            conn.execute(update(documents).where(documents.c.account_id == ctx.account_id,
                                                 documents.c.region == ctx.region, documents.c.name == key)
                         .values(tags=tags))
            return
        conn.execute(update(parameters).where(parameters.c.account_id == ctx.account_id,
                                              parameters.c.region == ctx.region, parameters.c.name == key)
                     .values(tags=tags))


@api.operation("AddTagsToResource", resources=_arn)
def add_tags(ctx: RequestContext, params: Params) -> Params:
    key, tags = _tags(ctx, params)
    tags.update({tag["Key"]: tag.get("Value", "") for tag in params["Tags"]})
    if len(tags) > MAX_TAGS:
        raise TooManyTagsError(f"A resource can have at most {MAX_TAGS} tags.")
    _save(ctx, params, key, tags)
    return {}


@api.operation("RemoveTagsFromResource", resources=_arn)
def remove_tags(ctx: RequestContext, params: Params) -> Params:
    key, tags = _tags(ctx, params)
    _save(ctx, params, key, {name: value for name, value in tags.items() if name not in set(params["TagKeys"])})
    return {}


@api.operation("ListTagsForResource", resources=_arn)
def list_tags(ctx: RequestContext, params: Params) -> Params:
    _, tags = _tags(ctx, params)
    return {"TagList": tag_list(tags)}


def resource_info(ctx: RequestContext, arn: str) -> ResourceInfo | None:
    """A parameter's, hybrid machine's or document's owner and tags for IAM (None for public parameters, AWS's
    documents and unknown names)."""
    parts = arn.split(":", 5)
    if len(parts) == 6 and parts[2] == "ec2" and parts[4] == ctx.account_id and parts[5].startswith("instance/"):
        with ctx.cloud.db.read() as conn:   # Run Command on an EC2 instance: IAM reads EC2's tags
            tags = dict(conn.execute(select(ec2_tags.c.key, ec2_tags.c.value).where(
                ec2_tags.c.account_id == ctx.account_id, ec2_tags.c.resource_id == parts[5].split("/", 1)[1])).all())
        return ResourceInfo(owner_account=ctx.account_id, tags=tags)
    if len(parts) == 6 and parts[4] == ctx.account_id and parts[5].startswith("managed-instance/"):
        with ctx.cloud.db.read() as conn:
            tags = conn.execute(select(managed_instances.c.tags).where(
                *_instance_is(ctx, parts[5].split("/", 1)[1]))).scalar()
        return ResourceInfo(owner_account=ctx.account_id, tags=dict(tags)) if tags is not None else None
    if len(parts) == 6 and parts[3:5] == [ctx.region, ctx.account_id] and parts[5].startswith("document/"):
        with ctx.cloud.db.read() as conn:
            document = find_document(conn, ctx.account_id, ctx.region, parts[5].split("/", 1)[1])
        return ResourceInfo(owner_account=ctx.account_id, tags=dict(document["tags"])) if document else None
    if len(parts) != 6 or parts[4] != ctx.account_id or not parts[5].startswith("parameter/"):
        return None
    name = names.name_of_resource(arn)
    with ctx.cloud.db.read() as conn:
        row = records.find(conn, ctx, name)
    return ResourceInfo(owner_account=ctx.account_id, tags=dict(row["tags"])) if row is not None else None
