"""CreateLaunchTemplate, DescribeLaunchTemplates, ModifyLaunchTemplate and DeleteLaunchTemplate.

A template is a name, its numbered versions and which of them is the default; the versions' own
operations are in :mod:`.versions`. The template's tags are EC2 tags like any other resource's
(CreateTags/DescribeTags work on ``lt-`` ids), and the ``tag:`` filters read them.
"""

from __future__ import annotations

from sqlalchemy import Connection, RowMapping, delete, insert, select, update

from controller.api import Params, RequestContext
from controller.ec2.describe import describe, listing
from controller.ec2.launch_templates import records, selection, state
from controller.ec2.launch_templates.records import LAUNCH_TEMPLATE
from controller.ec2.operation import NEW, arns, vpc_operation
from controller.ec2.tags import drop_tags, set_tags, tags_of
from controller.errors import error
from controller.state import utcnow

NameAlreadyExists = error("InvalidLaunchTemplateName.AlreadyExistsException")
IdempotentParameterMismatch = error("IdempotentParameterMismatch")


def _output(conn: Connection, account: str, row: RowMapping) -> Params:
    template_id = row["launch_template_id"]
    return records.template_output(row, records.latest(conn, template_id), tags_of(conn, account, [template_id])
                                   [template_id])


def _same_token(conn: Connection, account: str, token: str | None, name: str) -> RowMapping | None:
    """The template an earlier call with this ClientToken made (the same call again gives it back)."""
    if not token:
        return None
    table = state.launch_templates
    row = conn.execute(select(table).where(table.c.account_id == account, table.c.client_token == token)
                       ).mappings().first()
    if row is not None and row["name"] != name:
        raise IdempotentParameterMismatch(f"The client token '{token}' was already used with different "
                                          "parameters.")
    return row


@vpc_operation("CreateLaunchTemplate", resources=arns((LAUNCH_TEMPLATE, NEW)))
def create_launch_template(ctx: RequestContext, params: Params) -> Params:
    name = records.check_name(params["LaunchTemplateName"])
    data = records.check_data(params["LaunchTemplateData"])
    tags = records.template_tags(params.get("TagSpecifications"))
    table, now = state.launch_templates, utcnow()
    with ctx.cloud.db.begin() as conn:
        again = _same_token(conn, ctx.account_id, params.get("ClientToken"), name)
        if again is not None:
            return {"LaunchTemplate": _output(conn, ctx.account_id, again)}
        if conn.execute(select(table.c.launch_template_id).where(table.c.account_id == ctx.account_id,
                                                                 table.c.name == name)).first():
            raise NameAlreadyExists("Launch template name already in use.")
        template_id = LAUNCH_TEMPLATE.new_id()
        conn.execute(insert(table).values(
            launch_template_id=template_id, account_id=ctx.account_id, name=name, default_version=1,
            next_version=2, created_by=ctx.principal.arn, created_at=now, client_token=params.get("ClientToken")))
        conn.execute(insert(state.launch_template_versions).values(
            launch_template_id=template_id, version_number=1, description=params.get("VersionDescription"),
            data=data, created_by=ctx.principal.arn, created_at=now))
        set_tags(conn, ctx.account_id, LAUNCH_TEMPLATE, template_id, tags)
        row = conn.execute(select(table).where(table.c.launch_template_id == template_id)).mappings().one()
        output = _output(conn, ctx.account_id, row)
    ctx.audit_resources.append(LAUNCH_TEMPLATE.arn(ctx, template_id))
    return {"LaunchTemplate": output}


#: API_DescribeLaunchTemplates.html
TEMPLATE_FILTERS = {"create-time": "CreateTime", "launch-template-name": "LaunchTemplateName"}


@vpc_operation("DescribeLaunchTemplates", resources=arns((LAUNCH_TEMPLATE, "LaunchTemplateIds")))
def describe_launch_templates(ctx: RequestContext, params: Params) -> Params:
    table = state.launch_templates
    with ctx.cloud.db.read() as conn:
        rows = conn.execute(select(table).where(table.c.account_id == ctx.account_id)).mappings().all()
        items = [_output(conn, ctx.account_id, row) for row in rows]
    names = params.get("LaunchTemplateNames") or []
    missing = [n for n in names if n not in {row["name"] for row in rows}]
    if missing:
        raise records.NameNotFound("At least one of the launch templates specified in the request does not "
                                   "exist.")
    if names:
        items = [item for item in items if item["LaunchTemplateName"] in names]
    listed, token = describe(items, params, key="LaunchTemplateId", fields=TEMPLATE_FILTERS,
                             ids_param="LaunchTemplateIds", kind=LAUNCH_TEMPLATE, page_limits=(1, 200))
    return listing("LaunchTemplates", listed, token)


@vpc_operation("ModifyLaunchTemplate", resources=arns((LAUNCH_TEMPLATE, "LaunchTemplateId")))
def modify_launch_template(ctx: RequestContext, params: Params) -> Params:
    """Sets the default version (the CLI's ``--default-version``, ``SetDefaultVersion`` on the wire)."""
    table = state.launch_templates
    with ctx.cloud.db.begin() as conn:
        row = records.find(conn, ctx.account_id, params)
        template_id = row["launch_template_id"]
        wanted = params.get("DefaultVersion")
        if wanted is not None:
            existing = records.versions(conn, template_id)
            number = selection.resolve(wanted, existing, row["default_version"], template_id)
            conn.execute(update(table).where(table.c.launch_template_id == template_id)
                         .values(default_version=number))
            row = conn.execute(select(table).where(table.c.launch_template_id == template_id)).mappings().one()
        return {"LaunchTemplate": _output(conn, ctx.account_id, row)}


@vpc_operation("DeleteLaunchTemplate", resources=arns((LAUNCH_TEMPLATE, "LaunchTemplateId")))
def delete_launch_template(ctx: RequestContext, params: Params) -> Params:
    """Deletes the template and every version of it (instances launched from it keep running)."""
    with ctx.cloud.db.begin() as conn:
        row = records.find(conn, ctx.account_id, params)
        template_id = row["launch_template_id"]
        output = _output(conn, ctx.account_id, row)
        conn.execute(delete(state.launch_template_versions)
                     .where(state.launch_template_versions.c.launch_template_id == template_id))
        conn.execute(delete(state.launch_templates).where(state.launch_templates.c.launch_template_id == template_id))
        drop_tags(conn, [template_id])
    return {"LaunchTemplate": output}
