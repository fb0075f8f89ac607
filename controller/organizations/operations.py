"""The Organizations API: CreateAccount and the calls that describe the organization.

Only principals of the management account manage accounts (IAM decides which of
them, like everywhere else); member accounts may describe the organization they
belong to, as on AWS.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from sqlalchemy import select

from controller.api import Params, RequestContext
from controller.errors import ServiceError, error
from controller.organizations import api, state
from controller.organizations.accounts import ACCESS_ROLE, create_member_account, organization_id

AccessDeniedException = error("AccessDeniedException")
AccountNotFoundException = error("AccountNotFoundException")
CreateAccountStatusNotFoundException = error("CreateAccountStatusNotFoundException")

DEFAULT_MAX_RESULTS = 20


def _require_management(ctx: RequestContext) -> str:
    management = ctx.cloud.credentials.management_account() or ""
    if ctx.account_id != management:
        raise AccessDeniedException("You don't have permissions to access this resource.")
    return management


def _account_arn(ctx: RequestContext, account_id: str) -> str:
    management = ctx.cloud.credentials.management_account()
    return (f"arn:{ctx.cloud.config.partition}:organizations::{management}:account/"
            f"{organization_id(ctx.cloud)}/{account_id}")


def _account_output(ctx: RequestContext, row: dict[str, Any]) -> dict[str, Any]:
    return {"Id": row["account_id"], "Arn": _account_arn(ctx, row["account_id"]), "Email": row["email"],
            "Name": row["name"], "Status": row["status"], "State": row["status"],
            "JoinedMethod": row["joined_method"], "JoinedTimestamp": row["created_at"]}


def _status_output(row: dict[str, Any]) -> dict[str, Any]:
    output = {"Id": row["request_id"], "AccountName": row["account_name"], "State": row["state"],
              "RequestedTimestamp": row["requested_at"]}
    optional = {"CompletedTimestamp": row["completed_at"], "AccountId": row["account_id"],
                "FailureReason": row["failure_reason"]}
    output.update({key: value for key, value in optional.items() if value is not None})
    return output


@api.operation("CreateAccount")
def create_account(ctx: RequestContext, params: Params) -> Params:
    _require_management(ctx)
    request = create_member_account(ctx.cloud, params["AccountName"], params["Email"],
                                    role_name=params.get("RoleName") or ACCESS_ROLE)
    if request["account_id"]:
        ctx.audit_resources.append(_account_arn(ctx, request["account_id"]))
    return {"CreateAccountStatus": _status_output(request)}


@api.operation("DescribeCreateAccountStatus")
def describe_create_account_status(ctx: RequestContext, params: Params) -> Params:
    _require_management(ctx)
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
    _require_management(ctx)
    table = state.create_account_requests
    with ctx.cloud.db.read() as conn:
        rows = conn.execute(select(table).order_by(table.c.requested_at, table.c.request_id)).mappings().all()
    wanted = set(params.get("States") or [])
    statuses = [_status_output(dict(row)) for row in rows if not wanted or row["state"] in wanted]
    page, token = _page(statuses, params)
    return {"CreateAccountStatuses": page, **token}


@api.operation("ListAccounts")
def list_accounts(ctx: RequestContext, params: Params) -> Params:
    _require_management(ctx)
    page, token = _page([_account_output(ctx, row) for row in ctx.cloud.credentials.list_accounts()], params)
    return {"Accounts": page, **token}


@api.operation("DescribeAccount", resources=lambda ctx, params: [_account_arn(ctx, params["AccountId"])])
def describe_account(ctx: RequestContext, params: Params) -> Params:
    _require_management(ctx)
    row = ctx.cloud.credentials.get_account(params["AccountId"])
    if row is None:
        raise AccountNotFoundException("You specified an account that doesn't exist.")
    return {"Account": _account_output(ctx, row)}


@api.operation("DescribeOrganization")
def describe_organization(ctx: RequestContext, params: Params) -> Params:
    management = ctx.cloud.credentials.management_account() or ""
    org_id = organization_id(ctx.cloud)
    row = ctx.cloud.credentials.get_account(management) or {}
    partition = ctx.cloud.config.partition
    return {"Organization": {
        "Id": org_id, "Arn": f"arn:{partition}:organizations::{management}:organization/{org_id}",
        "FeatureSet": "ALL", "MasterAccountArn": _account_arn(ctx, management), "MasterAccountId": management,
        "MasterAccountEmail": row.get("email", ""), "AvailablePolicyTypes": []}}


def _page(items: list[dict[str, Any]], params: Params) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Organizations pages by NextToken/MaxResults (1..20); the token is the offset, opaque to clients."""
    max_results = params.get("MaxResults") or DEFAULT_MAX_RESULTS
    start = 0
    if params.get("NextToken"):
        try:
            start = int(base64.urlsafe_b64decode(params["NextToken"].encode()).decode())
        except (ValueError, binascii.Error):
            raise ServiceError("The provided pagination token is invalid.", code="InvalidInputException",
                               Reason="INVALID_NEXT_TOKEN") from None
    page = items[start:start + max_results]
    end = start + len(page)
    token = {"NextToken": base64.urlsafe_b64encode(str(end).encode()).decode()} if end < len(items) else {}
    return page, token
