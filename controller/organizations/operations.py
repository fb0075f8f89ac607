"""The Organizations API: CreateAccount and the calls that describe the organization.

Only principals of the management account manage accounts (IAM decides which of
them, like everywhere else); member accounts may describe the organization they
belong to, as on AWS.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from controller.api import Params, RequestContext
from controller.errors import error
from controller.organizations import state
from controller.organizations.accounts import ACCESS_ROLE, create_member_account
from controller.organizations.common import (
    AccountNotFoundException,
    account_arn,
    account_output,
    page,
    require_management,
    tags_of,
)
from controller.organizations.scps import scp_enabled
from controller.organizations.service import api
from controller.organizations.tree import organization_id, root_id

CreateAccountStatusNotFoundException = error("CreateAccountStatusNotFoundException")


def _status_output(row: dict[str, Any]) -> dict[str, Any]:
    output = {"Id": row["request_id"], "AccountName": row["account_name"], "State": row["state"],
              "RequestedTimestamp": row["requested_at"]}
    optional = {"CompletedTimestamp": row["completed_at"], "AccountId": row["account_id"],
                "FailureReason": row["failure_reason"]}
    output.update({key: value for key, value in optional.items() if value is not None})
    return output


@api.operation("CreateAccount")
def create_account(ctx: RequestContext, params: Params) -> Params:
    require_management(ctx)
    request = create_member_account(ctx.cloud, params["AccountName"], params["Email"],
                                    role_name=params.get("RoleName") or ACCESS_ROLE, tags=tags_of(params))
    if request["account_id"]:
        ctx.audit_resources.append(account_arn(ctx, request["account_id"]))
    return {"CreateAccountStatus": _status_output(request)}


@api.operation("DescribeCreateAccountStatus")
def describe_create_account_status(ctx: RequestContext, params: Params) -> Params:
    require_management(ctx)
    table = state.create_account_requests
    with ctx.cloud.db.read() as conn:
        row = conn.execute(select(table).where(
            table.c.request_id == params["CreateAccountRequestId"])).mappings().first()
    if row is None:
        raise CreateAccountStatusNotFoundException(
            "We can't find an create account request with the CreateAccountRequestId that you specified.")
    return {"CreateAccountStatus": _status_output(dict(row))}


@api.operation("ListCreateAccountStatus")
def list_create_account_status(ctx: RequestContext, params: Params) -> Params:
    require_management(ctx)
    table = state.create_account_requests
    with ctx.cloud.db.read() as conn:
        rows = conn.execute(select(table).order_by(table.c.requested_at, table.c.request_id)).mappings().all()
    wanted = set(params.get("States") or [])
    statuses = [_status_output(dict(row)) for row in rows if not wanted or row["state"] in wanted]
    chosen, token = page(statuses, params, lambda status: f"{status['RequestedTimestamp'].isoformat()}{status['Id']}")
    return {"CreateAccountStatuses": chosen, **token}


@api.operation("ListAccounts")
def list_accounts(ctx: RequestContext, params: Params) -> Params:
    require_management(ctx)
    found = [account_output(ctx, row) for row in ctx.cloud.credentials.list_accounts()]
    chosen, token = page(found, params, lambda account: f"{account['JoinedTimestamp'].isoformat()}{account['Id']}")
    return {"Accounts": chosen, **token}


@api.operation("DescribeAccount", resources=lambda ctx, params: [account_arn(ctx, params["AccountId"])])
def describe_account(ctx: RequestContext, params: Params) -> Params:
    require_management(ctx)
    row = ctx.cloud.credentials.get_account(params["AccountId"])
    if row is None:
        raise AccountNotFoundException("You specified an account that doesn't exist.")
    return {"Account": account_output(ctx, row)}


@api.operation("DescribeOrganization")
def describe_organization(ctx: RequestContext, params: Params) -> Params:
    management = ctx.cloud.credentials.management_account() or ""
    org_id = organization_id(ctx.cloud)
    row = ctx.cloud.credentials.get_account(management) or {}
    partition = ctx.cloud.config.partition
    root = root_id(ctx.cloud)
    with ctx.cloud.db.read() as conn:
        # deprecated by AWS in favour of ListRoots, still returned: the root's enabled types
        available = [{"Type": "SERVICE_CONTROL_POLICY", "Status": "ENABLED"}] if scp_enabled(conn, root) else []
    return {"Organization": {
        "Id": org_id, "Arn": f"arn:{partition}:organizations::{management}:organization/{org_id}",
        "FeatureSet": "ALL", "MasterAccountArn": account_arn(ctx, management), "MasterAccountId": management,
        "MasterAccountEmail": row.get("email", ""), "AvailablePolicyTypes": available}}

