"""Reading the account's parameters and shaping them as the API returns them.

Every read sees only live parameters: one whose Expiration policy has passed is gone for every call (it is
purged by the next write of its account), as AWS deletes it at that time. Public parameters
(``/aws/service/...``) are not rows: :mod:`controller.ssm.public` answers them, in the same
:class:`Version` form, so the operations treat both alike.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Connection, delete, or_, select

from controller.api import Params, RequestContext
from controller.errors import error
from controller.ssm import crypto, names, public
from controller.ssm.model import Version
from controller.ssm.state import parameters, versions

ParameterNotFound = error("ParameterNotFound")
ParameterVersionNotFound = error("ParameterVersionNotFound")


def arn_of(ctx: RequestContext, name: str) -> str:
    return names.parameter_arn(ctx.cloud.config.partition, ctx.region, ctx.account_id, name)


def _live(now: float) -> Any:
    return or_(parameters.c.expires_at.is_(None), parameters.c.expires_at > now)


def _version_of(ctx: RequestContext, row: Any) -> Version:
    return Version(name=row["name"], arn=arn_of(ctx, row["name"]), version=row["version"], type=row["type"],
                   value=row["value"], modified_at=row["modified_at"], data_type=row["data_type"],
                   tier=row["tier"], modified_user=row["modified_user"], key_id=row["key_id"],
                   key_arn=row["key_arn"], description=row["description"],
                   allowed_pattern=row["allowed_pattern"], policies=row["policies"], labels=row["labels"])


def find(conn: Connection, ctx: RequestContext, name: str) -> Any:
    """The live parameter row ``name`` names in the caller's account and region, or None."""
    return conn.execute(select(parameters).where(
        parameters.c.account_id == ctx.account_id, parameters.c.region == ctx.region, parameters.c.name == name,
        _live(time.time()))).mappings().first()


def version_rows(conn: Connection, ctx: RequestContext, name: str) -> list[Any]:
    """A parameter's version rows, oldest first."""
    return list(conn.execute(select(versions).where(
        versions.c.account_id == ctx.account_id, versions.c.region == ctx.region, versions.c.name == name)
        .order_by(versions.c.version)).mappings())


def history(ctx: RequestContext, name: str) -> list[Version]:
    """Every version of a parameter (own or public), oldest first; ParameterNotFound if there is none."""
    if public.is_public(name):
        found = public.versions(ctx, name)
    else:
        with ctx.cloud.db.read() as conn:
            found = [_version_of(ctx, row) for row in version_rows(conn, ctx, name)] if find(conn, ctx, name) else []
    if not found:
        raise ParameterNotFound(f"Parameter {name} not found.")
    return found


def latest_of_all(ctx: RequestContext) -> list[Version]:
    """The newest version of each of the account's live parameters, by name."""
    with ctx.cloud.db.read() as conn:
        rows = conn.execute(select(versions).join(parameters, (parameters.c.account_id == versions.c.account_id)
                                                  & (parameters.c.region == versions.c.region)
                                                  & (parameters.c.name == versions.c.name)
                                                  & (parameters.c.version == versions.c.version))
                            .where(parameters.c.account_id == ctx.account_id, parameters.c.region == ctx.region,
                                   _live(time.time()))
                            .order_by(versions.c.name)).mappings().all()
    return [_version_of(ctx, row) for row in rows]


def tags_of(ctx: RequestContext, name: str) -> dict[str, str]:
    with ctx.cloud.db.read() as conn:
        row = find(conn, ctx, name)
    return dict(row["tags"]) if row is not None else {}


def own_name(ctx: RequestContext, reference: str) -> str:
    """The name (with its selector) a Name member gives: a name, or the ARN of one of the caller's parameters."""
    if reference.startswith("arn:") and not reference.startswith(arn_of(ctx, "")) and \
            not reference.startswith(names.parameter_arn(ctx.cloud.config.partition, ctx.region, "", public.PREFIX)):
        raise ParameterNotFound(f"Parameter {reference} not found.")
    return names.name_of_resource(reference)


def selected(ctx: RequestContext, reference: str) -> tuple[Version, names.Selector]:
    """The version ``name[:version|:label]`` selects, and the selector; AWS's errors when there is none."""
    selector = names.parse_selector(own_name(ctx, reference))
    found = history(ctx, selector.name)
    if selector.version is not None:
        match = [item for item in found if item.version == selector.version]
        if not match:
            raise ParameterVersionNotFound(f"Systems Manager could not find version {selector.version} of "
                                           f"{selector.name}. Verify the version and try again.")
        return match[0], selector
    if selector.label is not None:
        match = [item for item in found if selector.label in item.labels]
        if not match:
            raise ParameterVersionNotFound(f"Systems Manager could not find label {selector.label} of "
                                           f"{selector.name}. Verify the label and try again.")
        return match[0], selector
    return found[-1], selector


def shown_value(ctx: RequestContext, item: Version, with_decryption: bool) -> str:
    """The value as the API returns it: SecureString decrypted only when asked (and allowed)."""
    if item.type == "SecureString" and with_decryption:
        return crypto.decrypt(ctx, item.key_arn or "", item.arn, item.value)
    return item.value


def parameter_output(ctx: RequestContext, item: Version, with_decryption: bool, selector: str = "") -> Params:
    """A ``Parameter`` (GetParameter, GetParameters, GetParametersByPath)."""
    output: Params = {"Name": item.name, "Type": item.type, "Value": shown_value(ctx, item, with_decryption),
                      "Version": item.version, "LastModifiedDate": item.modified_at, "ARN": item.arn,
                      "DataType": item.data_type}
    if selector:
        output["Selector"] = selector
    return output


def metadata_output(item: Version) -> Params:
    """A ``ParameterMetadata`` (DescribeParameters: never the value)."""
    output: Params = {"Name": item.name, "ARN": item.arn, "Type": item.type, "LastModifiedDate": item.modified_at,
                      "Version": item.version, "Tier": item.tier, "Policies": item.policies,
                      "DataType": item.data_type}
    for member, value in (("KeyId", item.key_id), ("Description", item.description),
                          ("AllowedPattern", item.allowed_pattern), ("LastModifiedUser", item.modified_user)):
        if value:
            output[member] = value
    return output


def history_output(ctx: RequestContext, item: Version, with_decryption: bool) -> Params:
    """A ``ParameterHistory`` entry (GetParameterHistory)."""
    output = {**metadata_output(item), "Value": shown_value(ctx, item, with_decryption)}
    output.pop("ARN")
    if item.labels:
        output["Labels"] = item.labels
    return output


def purge_expired(conn: Connection, ctx: RequestContext) -> None:
    """Delete the account's parameters whose Expiration has passed (with their versions)."""
    gone = [row[0] for row in conn.execute(select(parameters.c.name).where(
        parameters.c.account_id == ctx.account_id, parameters.c.region == ctx.region,
        parameters.c.expires_at.is_not(None), parameters.c.expires_at <= time.time()))]
    for name in gone:
        remove(conn, ctx, name)


def remove(conn: Connection, ctx: RequestContext, name: str) -> None:
    for table in (versions, parameters):
        conn.execute(delete(table).where(table.c.account_id == ctx.account_id, table.c.region == ctx.region,
                                         table.c.name == name))
