"""Why a call was denied: recorded beside its CloudTrail event, read back with ``explain_event``.

Calls are made with boto3 against the cloud's own WSGI app on a local port, so each denial takes the real
path (gateway, enforcement, audit trail); ``explain_event`` is then asked in process, as the console will.
One test per verdict: an explicit deny in an identity policy, no allow in the identity policies, a
permissions boundary, an SCP of the organization, a session policy given to AssumeRole.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError
from sqlalchemy import func, select

from controller.api import Principal, RequestContext
from controller.audit.trail import events, explanations
from controller.errors import ServiceError
from controller.iam.explanations import Explanation, explain_event
from controller.organizations.accounts import create_member_account
from controller.organizations.scps import FULL_AWS_ACCESS_ID
from controller.server import HttpServer
from controller.wsgi import create_app
from tests.unit.harness import Clouds, IamCloud, root


@pytest.fixture
def iam(clouds: Clouds) -> IamCloud:
    return clouds.iam()


@pytest.fixture
def endpoint(iam: IamCloud) -> Iterator[str]:
    server = HttpServer(create_app(iam.cloud), "127.0.0.1", 0, 2)
    server.start()
    yield f"http://127.0.0.1:{server.port}"
    server.stop()


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action: str, sid: str | None = None) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": "*", **({"Sid": sid} if sid else {})}


def user_with_keys(iam: IamCloud, name: str, account: str | None = None, **inline: str) -> dict[str, str]:
    """A user of ``account`` with the given inline policies (name -> document) and an access key."""
    iam.call("CreateUser", {"UserName": name}, account=account)
    for policy_name, text in inline.items():
        iam.call("PutUserPolicy", {"UserName": name, "PolicyName": policy_name, "PolicyDocument": text},
                 account=account)
    return iam.call("CreateAccessKey", {"UserName": name}, account=account)["AccessKey"]


def client(iam: IamCloud, endpoint: str, service: str, key: dict[str, str]) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name=iam.config.region,
                        aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
                        aws_session_token=key.get("SessionToken"), config=BotoConfig(retries={"max_attempts": 1}))


def denied(call: Any, **params: Any) -> str:
    """Make a call that IAM must deny; returns the id of its CloudTrail event."""
    with pytest.raises(ClientError) as excinfo:
        call(**params)
    assert excinfo.value.response["Error"]["Code"] == "AccessDenied"
    return excinfo.value.response["ResponseMetadata"]["RequestId"]


def event_id(iam: IamCloud, request_id: str) -> str:
    iam.cloud.audit.flush()
    with iam.db.read() as conn:
        found = [row for row in conn.execute(select(events.c.event_id, events.c.document))
                 if row.document["requestID"] == request_id]
    [row] = found
    return row.event_id


def users(iam: IamCloud, account: str | None = None) -> str:
    """The resource ListUsers is authorized on: the users' path prefix."""
    return f"arn:aws:iam::{account or iam.account}:user/"


def explain(iam: IamCloud, request_id: str, account: str | None = None) -> Explanation:
    explanation = explain_event(iam.cloud, root(account or iam.account), event_id(iam, request_id))
    assert explanation is not None
    return explanation


def test_an_explicit_deny_names_its_statement(iam: IamCloud, endpoint: str) -> None:
    key = user_with_keys(iam, "alice")
    rules = iam.call("CreatePolicy", {"PolicyName": "Rules", "PolicyDocument": document(
        allow("iam:*"), {"Sid": "DenyDeletes", "Effect": "Deny", "Action": "iam:DeleteUser", "Resource": "*"})})
    iam.call("AttachUserPolicy", {"UserName": "alice", "PolicyArn": rules["Policy"]["Arn"]})
    iam.call("CreateUser", {"UserName": "bob"})
    request = denied(client(iam, endpoint, "iam", key).delete_user, UserName="bob")

    explanation = explain(iam, request)
    bob = f"arn:aws:iam::{iam.account}:user/bob"
    assert (explanation.verdict, explanation.action, explanation.resource) == ("explicit-deny", "iam:DeleteUser", bob)
    [statement] = explanation.denied_by
    assert (statement.sid, statement.index, statement.effect) == ("DenyDeletes", 1, "Deny")
    assert (statement.policy.kind, statement.policy.policy_type, statement.policy.arn) == (
        "identity", "user-managed", rules["Policy"]["Arn"])
    assert explanation.sentence() == (
        f"Denied explicitly by statement 'DenyDeletes' (#2) of managed policy {rules['Policy']['Arn']}.")


def test_no_identity_allow_names_the_policies_and_the_boundary_that_would_allow(iam: IamCloud,
                                                                                endpoint: str) -> None:
    key = user_with_keys(iam, "alice", ReadOnly=document(allow("iam:Get*")))
    bound = iam.call("CreatePolicy", {"PolicyName": "Bound", "PolicyDocument": document(allow("iam:*", "All"))})
    iam.call("PutUserPermissionsBoundary", {"UserName": "alice", "PermissionsBoundary": bound["Policy"]["Arn"]})
    request = denied(client(iam, endpoint, "iam", key).list_users)

    explanation = explain(iam, request)
    assert explanation.verdict == "no-identity-allow" and not explanation.denied_by
    [lacking] = explanation.lacking
    assert (lacking.policy_id, lacking.policy_type, lacking.attached_to) == ("ReadOnly", "user", "user/alice")
    [boundary] = explanation.allowed_by
    assert (boundary.policy.kind, boundary.sid) == ("boundary", "All")
    assert explanation.sentence() == (
        f"Denied: no identity-based policy attached to user alice allows iam:ListUsers on {users(iam)}; "
        f"statement 'All' (#1) of permissions boundary {bound['Policy']['Arn']} does.")


def test_a_boundary_that_does_not_allow(iam: IamCloud, endpoint: str) -> None:
    key = user_with_keys(iam, "alice", Admin=document(allow("iam:*", "Everything")))
    bound = iam.call("CreatePolicy", {"PolicyName": "Bound", "PolicyDocument": document(allow("iam:Get*"))})
    iam.call("PutUserPermissionsBoundary", {"UserName": "alice", "PermissionsBoundary": bound["Policy"]["Arn"]})
    request = denied(client(iam, endpoint, "iam", key).list_users)

    explanation = explain(iam, request)
    assert explanation.verdict == "permissions-boundary"
    assert [ref.arn for ref in explanation.lacking] == [bound["Policy"]["Arn"]]
    assert explanation.sentence() == (
        f"Denied: permissions boundary {bound['Policy']['Arn']} of user alice does not allow iam:ListUsers on "
        f"{users(iam)}; "
        "statement 'Everything' (#1) of inline policy 'Admin' of user alice does.")


def test_a_service_control_policy_that_does_not_allow(iam: IamCloud, endpoint: str) -> None:
    member = create_member_account(iam.cloud, "member", "member@example.com")["account_id"]
    org_root = organizations(iam, "ListRoots")["Roots"][0]["Id"]
    organizations(iam, "EnablePolicyType", RootId=org_root, PolicyType="SERVICE_CONTROL_POLICY")
    # the member's root may still read its trail and simulate, to be shown the explanation
    reads = organizations(iam, "CreatePolicy", Name="reads", Description="", Type="SERVICE_CONTROL_POLICY",
                          Content=document({"Effect": "Allow", "Resource": "*", "Action": [
                              "iam:Get*", "cloudtrail:LookupEvents", "iam:SimulatePrincipalPolicy"]}))[
        "Policy"]["PolicySummary"]["Id"]
    organizations(iam, "AttachPolicy", PolicyId=reads, TargetId=member)
    organizations(iam, "DetachPolicy", PolicyId=FULL_AWS_ACCESS_ID, TargetId=member)
    key = user_with_keys(iam, "carol", member, Admin=document(allow("iam:*")))
    request = denied(client(iam, endpoint, "iam", key).list_users)

    explanation = explain(iam, request, member)
    assert explanation.verdict == "service-control-policy"
    assert [(ref.policy_id, ref.attached_to) for ref in explanation.lacking] == [(reads, f"account/{member}")]
    assert explanation.sentence() == (
        f"Denied: no service control policy attached to account {member} ({reads}) allows iam:ListUsers on "
        f"{users(iam, member)} for user carol; statement #1 of inline policy 'Admin' of user carol does.")


def test_a_session_policy_given_to_assume_role(iam: IamCloud, endpoint: str) -> None:
    key = user_with_keys(iam, "alice", MayAssume=document(allow("sts:AssumeRole")))
    trust = document({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{iam.account}:root"},
                      "Action": "sts:AssumeRole"})
    iam.call("CreateRole", {"RoleName": "Worker", "AssumeRolePolicyDocument": trust})
    iam.call("PutRolePolicy", {"RoleName": "Worker", "PolicyName": "Work", "PolicyDocument": document(
        allow("iam:*"))})
    credentials = client(iam, endpoint, "sts", key).assume_role(
        RoleArn=f"arn:aws:iam::{iam.account}:role/Worker", RoleSessionName="job",
        Policy=document(allow("iam:Get*")))["Credentials"]
    request = denied(client(iam, endpoint, "iam", credentials).list_users)

    explanation = explain(iam, request)
    assert explanation.verdict == "session-policy"
    assert explanation.role_arn == f"arn:aws:iam::{iam.account}:role/Worker"
    assert explanation.sentence() == (
        f"Denied: the inline session policy of role session Worker/job does not allow iam:ListUsers on {users(iam)}; "
        "statement #1 of inline policy 'Work' of role Worker does.")


def test_the_viewer_needs_lookup_events_and_simulate_principal_policy(iam: IamCloud, endpoint: str) -> None:
    key = user_with_keys(iam, "alice")
    request = denied(client(iam, endpoint, "iam", key).list_users)
    found = event_id(iam, request)
    alice = f"arn:aws:iam::{iam.account}:user/alice"

    def viewer(name: str, *actions: str, resource: str = "*") -> Principal:
        user_with_keys(iam, name, **({"View": document({"Effect": "Allow", "Action": list(actions),
                                                          "Resource": resource})} if actions else {}))
        row = iam.call("GetUser", {"UserName": name})["User"]
        return Principal(account_id=iam.account, arn=row["Arn"], kind="user", user_id=row["UserId"], name=name)

    with pytest.raises(ServiceError) as excinfo:
        explain_event(iam.cloud, viewer("nobody"), found)
    assert (excinfo.value.code, excinfo.value.status) == ("AccessDeniedException", 400)  # CloudTrail's form
    with pytest.raises(ServiceError) as excinfo:
        explain_event(iam.cloud, viewer("reader", "cloudtrail:LookupEvents"), found)
    assert excinfo.value.code == "AccessDenied" and "iam:SimulatePrincipalPolicy" in excinfo.value.message
    with pytest.raises(ServiceError):  # simulating someone else does not do
        explain_event(iam.cloud, viewer("other", "cloudtrail:LookupEvents", "iam:SimulatePrincipalPolicy",
                                        resource=f"arn:aws:iam::{iam.account}:user/bob"), found)
    both = viewer("auditor", "cloudtrail:LookupEvents", "iam:SimulatePrincipalPolicy")
    explanation = explain_event(iam.cloud, both, found)
    assert explanation is not None and explanation.principal_arn == alice
    assert explanation.sentence() == (
        f"Denied: no identity-based policy attached to user alice allows iam:ListUsers on {users(iam)}.")
    assert explain_event(iam.cloud, both, "00000000-0000-0000-0000-000000000000") is None


def test_an_allowed_call_records_no_explanation(iam: IamCloud, endpoint: str) -> None:
    key = user_with_keys(iam, "alice", Reads=document(allow("iam:*")))
    request_id = client(iam, endpoint, "iam", key).list_users()["ResponseMetadata"]["RequestId"]
    found = event_id(iam, request_id)
    with iam.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(explanations)).scalar() == 0
    assert explain_event(iam.cloud, root(iam.account), found) is None


def test_the_denied_event_stays_cloudtrails(iam: IamCloud, endpoint: str) -> None:
    key = user_with_keys(iam, "alice")
    request = denied(client(iam, endpoint, "iam", key).list_users)
    found = event_id(iam, request)
    with iam.db.read() as conn:
        [event] = conn.execute(select(events.c.document).where(events.c.event_id == found)).scalars()
    assert event["errorCode"] == "AccessDenied" and "explanation" not in json.dumps(event).lower()
    assert event["errorMessage"].endswith("because no identity-based policy allows the iam:ListUsers action")


def organizations(iam: IamCloud, operation: str, **params: Any) -> dict[str, Any]:
    ctx = RequestContext(cloud=iam.cloud, service="organizations", operation=operation, request_id="test",
                         region=iam.config.region, principal=root(iam.account))
    return iam.cloud.services["organizations"].operations[operation].handler(ctx, params)
