"""The console's IAM pages: users, groups, roles and policies, a policy editor, and the policy simulator.

Everything is an IAM API call as the signed-in principal, so what a user may see or change here is what
their policies allow. A policy is created with CreatePolicy and the document exactly as typed: IAM's own
validation (MalformedPolicyDocument, LimitExceeded...) is the editor's, shown as IAM words it. The
simulator is SimulatePrincipalPolicy: its decision and matched statements are the policy engine's, the
same that judges real calls.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from flask import Response, abort, g, redirect, render_template, request, url_for

from controller.console.app import blueprint
from controller.console.calls import ServiceCallError

PAGE_SIZE = 100
#: At most this many actions or resources per simulation: the page shows every pair.
SIMULATE_LIMIT = 20


@dataclass(frozen=True)
class Kind:
    """How one kind of IAM entity is listed and read."""

    title: str
    operation: str          # the List* operation
    member: str             # its list in the answer
    name_member: str        # the name in each item
    arn_member: str
    endpoint: str           # the detail page


KINDS = {
    "users": Kind("Users", "ListUsers", "Users", "UserName", "Arn", "console.iam_user"),
    "groups": Kind("Groups", "ListGroups", "Groups", "GroupName", "Arn", "console.iam_group"),
    "roles": Kind("Roles", "ListRoles", "Roles", "RoleName", "Arn", "console.iam_role"),
}
#: Entity -> (its parameter, ListAttached*Policies, List*Policies, Get*Policy).
POLICY_CALLS = {
    "user": ("UserName", "ListAttachedUserPolicies", "ListUserPolicies", "GetUserPolicy"),
    "group": ("GroupName", "ListAttachedGroupPolicies", "ListGroupPolicies", "GetGroupPolicy"),
    "role": ("RoleName", "ListAttachedRolePolicies", "ListRolePolicies", "GetRolePolicy"),
}
_NAME = re.compile(r"^[\w+=,.@-]{1,128}$")


@blueprint.get("/iam")
def iam_users() -> tuple[str, int]:
    return _listing("users")


@blueprint.get("/iam/groups")
def iam_groups() -> tuple[str, int]:
    return _listing("groups")


@blueprint.get("/iam/roles")
def iam_roles() -> tuple[str, int]:
    return _listing("roles")


@blueprint.get("/iam/users/<name>")
def iam_user(name: str) -> tuple[str, int]:
    extra = [("Groups", "ListGroupsForUser", {"UserName": name}, "Groups", "GroupName")]
    return _detail("user", name, "GetUser", "User", extra)


@blueprint.get("/iam/groups/<name>")
def iam_group(name: str) -> tuple[str, int]:
    return _detail("group", name, "GetGroup", "Group", [("Members", "GetGroup", {"GroupName": name}, "Users",
                                                         "UserName")])


@blueprint.get("/iam/roles/<name>")
def iam_role(name: str) -> tuple[str, int]:
    return _detail("role", name, "GetRole", "Role", [])


@blueprint.get("/iam/policies")
def iam_policies() -> tuple[str, int]:
    """Customer managed policies (Scope=Local) or AWS managed ones, a page of :data:`PAGE_SIZE` each."""
    scope = "AWS" if request.args.get("scope") == "AWS" else "Local"
    params: dict[str, Any] = {"Scope": scope, "MaxItems": PAGE_SIZE}
    if request.args.get("next"):
        params["Marker"] = request.args["next"]
    try:
        answer = g.api.call("iam", "ListPolicies", params)
    except ServiceCallError as refused:
        return render_template("iam_policies.html", scope=scope, policies=[], error=refused), refused.status
    return render_template("iam_policies.html", scope=scope, policies=answer.get("Policies", []), error=None,
                           next_token=answer.get("Marker", "") if answer.get("IsTruncated") else ""), 200


@blueprint.get("/iam/policy")
def iam_policy() -> tuple[str, int]:
    """A managed policy (by ARN): its default version's document and what it is attached to."""
    arn = request.args.get("arn", "")
    api = g.api
    try:
        found = api.call("iam", "GetPolicy", {"PolicyArn": arn})["Policy"]
        version = api.call("iam", "GetPolicyVersion", {"PolicyArn": arn,
                                                       "VersionId": found["DefaultVersionId"]})["PolicyVersion"]
        entities = api.call("iam", "ListEntitiesForPolicy", {"PolicyArn": arn})
    except ServiceCallError as refused:
        return render_template("iam_policy.html", arn=arn, error=refused), refused.status
    return render_template("iam_policy.html", arn=arn, error=None, policy=found,
                           document=_document(version.get("Document", "")), entities=entities,
                           notice="Policy created." if request.args.get("created") else ""), 200


@blueprint.route("/iam/policies/create", methods=["GET", "POST"])
def iam_create_policy() -> Response | tuple[str, int]:
    form = request.form
    if request.method == "GET":
        return render_template("iam_create_policy.html", form=form, error=None), 200
    params = {"PolicyName": form.get("name", ""), "PolicyDocument": form.get("document", "")}
    if form.get("description"):
        params["Description"] = form["description"]
    try:
        created = g.api.call("iam", "CreatePolicy", params)["Policy"]
    except ServiceCallError as refused:
        return render_template("iam_create_policy.html", form=form, error=refused), refused.status
    return redirect(url_for("console.iam_policy", arn=created["Arn"], created=1), code=303)


@blueprint.get("/iam/simulator")
def iam_simulator() -> tuple[str, int]:
    """SimulatePrincipalPolicy for a user or role of the account: a read, so a GET whose URL can be shared."""
    args = request.args
    principals, error = _principals()
    values: dict[str, Any] = {"principals": principals, "chosen": args.get("principal", ""),
                              "actions": args.get("actions", ""), "resources": args.get("resources", ""),
                              "results": None, "error": error}
    actions = _lines(args.get("actions", ""))
    if not (values["chosen"] and actions):
        return render_template("iam_simulator.html", **values), 200
    resources = _lines(args.get("resources", "")) or ["*"]
    if len(actions) > SIMULATE_LIMIT or len(resources) > SIMULATE_LIMIT:
        values["error"] = ServiceCallError("InvalidInput", f"Simulate at most {SIMULATE_LIMIT} actions and "
                                           f"{SIMULATE_LIMIT} resources at a time.", 400)
        return render_template("iam_simulator.html", **values), 400
    try:
        answer = g.api.call("iam", "SimulatePrincipalPolicy", {
            "PolicySourceArn": values["chosen"], "ActionNames": actions, "ResourceArns": resources})
    except ServiceCallError as refused:
        values["error"] = refused
        return render_template("iam_simulator.html", **values), refused.status
    values["results"] = [row for result in answer.get("EvaluationResults", []) for row in _result_rows(result)]
    return render_template("iam_simulator.html", **values), 200


def _listing(kind_name: str) -> tuple[str, int]:
    kind = KINDS[kind_name]
    params: dict[str, Any] = {"MaxItems": PAGE_SIZE}
    if request.args.get("next"):
        params["Marker"] = request.args["next"]
    values: dict[str, Any] = {"kind": kind, "kind_name": kind_name, "items": [], "next_token": ""}
    try:
        answer = g.api.call("iam", kind.operation, params)
    except ServiceCallError as refused:
        return render_template("iam_list.html", error=refused, **values), refused.status
    values.update(items=answer.get(kind.member, []),
                  next_token=answer.get("Marker", "") if answer.get("IsTruncated") else "")
    return render_template("iam_list.html", error=None, **values), 200


def _detail(entity: str, name: str, get: str, member: str,
            extra: list[tuple[str, str, dict[str, Any], str, str]]) -> tuple[str, int]:
    """An entity with its attached managed policies and inline policies (documents shown), and ``extra``
    lists of names: (heading, operation, parameters, list member, name member)."""
    if not _NAME.match(name):
        abort(404)
    name_param, attached_op, inline_op, inline_get = POLICY_CALLS[entity]
    api = g.api
    values: dict[str, Any] = {"entity": entity, "name": name}
    try:
        values["item"] = api.call("iam", get, {name_param: name})[member]
        values["attached"] = api.call("iam", attached_op, {name_param: name}).get("AttachedPolicies", [])
        inline_names = api.call("iam", inline_op, {name_param: name}).get("PolicyNames", [])
        values["inline"] = [(policy_name, _document(api.call("iam", inline_get, {
            name_param: name, "PolicyName": policy_name}).get("PolicyDocument", "")))
            for policy_name in inline_names]
        values["extra"] = [(heading, [entry[name_member] for entry in api.call("iam", operation, params)
                                      .get(list_member, [])])
                           for heading, operation, params, list_member, name_member in extra]
    except ServiceCallError as refused:
        return render_template("iam_detail.html", error=refused, **values), refused.status
    trust = values["item"].get("AssumeRolePolicyDocument")
    values["trust"] = _document(trust) if trust else ""
    return render_template("iam_detail.html", error=None, **values), 200


def _principals() -> tuple[list[tuple[str, str]], ServiceCallError | None]:
    """(label, ARN) of the account's users and roles, for the simulator's choice (first page of each)."""
    choices: list[tuple[str, str]] = []
    try:
        for operation, member, name_member, label in (("ListUsers", "Users", "UserName", "user"),
                                                      ("ListRoles", "Roles", "RoleName", "role")):
            for entry in g.api.call("iam", operation, {"MaxItems": PAGE_SIZE}).get(member, []):
                choices.append((f"{label} {entry[name_member]}", entry["Arn"]))
    except ServiceCallError as refused:
        return choices, refused
    return choices, None


def _result_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per resource of an EvaluationResult (its own ResourceSpecificResults when there are several)."""
    specific = result.get("ResourceSpecificResults") or []
    if not specific:
        return [{"action": result["EvalActionName"], "resource": result.get("EvalResourceName", "*"),
                 "decision": result["EvalDecision"], "statements": result.get("MatchedStatements", []),
                 "missing": result.get("MissingContextValues", [])}]
    return [{"action": result["EvalActionName"], "resource": item["EvalResourceName"],
             "decision": item["EvalResourceDecision"], "statements": item.get("MatchedStatements", []),
             "missing": item.get("MissingContextValues", [])} for item in specific]


def _document(text: str) -> str:
    """A policy document as IAM returns it (URL-encoded JSON; SDKs decode it for their callers), indented."""
    decoded = unquote(text) if text.lstrip().startswith("%") else text
    try:
        return json.dumps(json.loads(decoded), indent=2)
    except ValueError:
        return decoded


def _lines(text: str) -> list[str]:
    """Actions or resources typed one per line (or separated by commas or spaces)."""
    return [part for part in re.split(r"[\s,]+", text) if part]
