"""IAM instance profile associations: Associate, Replace, Disassociate, DescribeIamInstanceProfileAssociations.

An instance has at most one association (its id is kept on the instance row). Changing or removing it
revokes the role credentials the metadata service handed out for the old profile, so a guest that keeps
using them is refused at once; the next metadata read mints credentials of the new role.
"""

from __future__ import annotations

from sqlalchemy import Connection, RowMapping, select, update

from controller.api import Params, RequestContext
from controller.ec2.describe import describe, listing
from controller.ec2.errors import IncorrectState, require
from controller.ec2.ids import IAM_INSTANCE_PROFILE_ASSOCIATION as ASSOCIATION
from controller.ec2.ids import INSTANCE, new_id
from controller.ec2.instances import lifecycle
from controller.ec2.instances import state as instance_state
from controller.ec2.instances.actions import revoke_credentials
from controller.ec2.instances.run_instances import instance_profile
from controller.ec2.instances.views import caller_instance
from controller.ec2.operation import arns, vpc_operation
from controller.ec2.vpc.state import write


def _output(row: RowMapping) -> Params:
    return {"AssociationId": row["iam_association_id"], "InstanceId": row["instance_id"], "State": "associated",
            "IamInstanceProfile": {"Arn": row["iam_instance_profile_arn"], "Id": row["iam_instance_profile_id"]},
            "Timestamp": row["launch_time"]}


def _by_association(conn: Connection, account: str, association_id: str | None) -> RowMapping:
    table = instance_state.instances
    row = conn.execute(select(table).where(table.c.iam_association_id == (association_id or ""),
                                           table.c.account_id == account)).mappings().first()
    if row is None or row["state"] == lifecycle.TERMINATED:
        raise ASSOCIATION.missing([association_id or ""])
    return row


def _set_profile(conn: Connection, ctx: RequestContext, row: RowMapping, spec: Params | None) -> RowMapping:
    table = instance_state.instances
    profile = instance_profile(conn, ctx, spec)
    revoke_credentials(conn, ctx.cloud, row["instance_id"])
    conn.execute(update(table).where(table.c.instance_id == row["instance_id"]).values(
        iam_instance_profile_arn=profile.arn if profile else None,
        iam_instance_profile_id=profile.profile_id if profile else None,
        iam_association_id=new_id("iip-assoc") if profile else None))
    return conn.execute(select(table).where(table.c.instance_id == row["instance_id"])).mappings().one()


@vpc_operation("AssociateIamInstanceProfile", resources=arns((INSTANCE, "InstanceId")))
def associate_iam_instance_profile(ctx: RequestContext, params: Params) -> Params:
    require(params, "IamInstanceProfile", "InstanceId")
    with write(ctx.cloud.db) as conn:
        row = caller_instance(conn, ctx.account_id, params["InstanceId"])
        if row["iam_association_id"]:
            raise IncorrectState(f"There is an existing association for instance {row['instance_id']}")
        row = _set_profile(conn, ctx, row, params["IamInstanceProfile"])
    return {"IamInstanceProfileAssociation": _output(row)}


@vpc_operation("ReplaceIamInstanceProfileAssociation")
def replace_iam_instance_profile_association(ctx: RequestContext, params: Params) -> Params:
    require(params, "IamInstanceProfile", "AssociationId")
    with write(ctx.cloud.db) as conn:
        row = _by_association(conn, ctx.account_id, params["AssociationId"])
        row = _set_profile(conn, ctx, row, params["IamInstanceProfile"])
    return {"IamInstanceProfileAssociation": _output(row)}


@vpc_operation("DisassociateIamInstanceProfile")
def disassociate_iam_instance_profile(ctx: RequestContext, params: Params) -> Params:
    require(params, "AssociationId")
    with write(ctx.cloud.db) as conn:
        row = _by_association(conn, ctx.account_id, params["AssociationId"])
        output = {**_output(row), "State": "disassociating"}
        _set_profile(conn, ctx, row, None)
    return {"IamInstanceProfileAssociation": output}


#: API_DescribeIamInstanceProfileAssociations.html
ASSOCIATION_FILTERS = {"instance-id": "InstanceId", "state": "State"}


@vpc_operation("DescribeIamInstanceProfileAssociations")
def describe_iam_instance_profile_associations(ctx: RequestContext, params: Params) -> Params:
    table = instance_state.instances
    with ctx.cloud.db.read() as conn:
        rows = conn.execute(select(table).where(table.c.account_id == ctx.account_id,
                                                table.c.iam_association_id.is_not(None),
                                                table.c.state != lifecycle.TERMINATED)).mappings().all()
    items = [_output(r) for r in rows]
    listed, token = describe(items, params, key="AssociationId", ids_param="AssociationIds", kind=ASSOCIATION,
                             page_limits=(5, 1000), fields=ASSOCIATION_FILTERS, tags_key=None)
    return listing("IamInstanceProfileAssociations", listed, token)

