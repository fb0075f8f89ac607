"""The console's VPC pages: the VPC list, each VPC's live topology, the security group and network ACL
editors, and Reachability Analyzer.

As everywhere in the console, every read and action is an API call as the signed-in principal (``g.api``).
The topology's JSON document costs one Describe per resource kind, filtered by the VPC (or by the ids
already read) wherever the API takes such a filter, and is built by the pure :func:`vpc_graph.build`; its
digest is the ETag the page's poll sends back, so an unchanged VPC answers 304 and is not redrawn.
Editor buttons are greyed out by the policy engine's opinion (:meth:`ConsoleApi.may`) on the resource's
ARN and tags; the API still decides, and a refusal is shown with AWS's code and message.

Importing this module adds its routes to the console's blueprint (``pages.py`` imports it).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from flask import Response, abort, g, jsonify, redirect, render_template, request, url_for

from controller.console import vpc_forms, vpc_graph
from controller.console.app import blueprint, cloud
from controller.console.calls import ServiceCallError
from controller.console.vpc_forms import FormError

#: How often the topology page asks whether the VPC changed, in seconds.
POLL_SECONDS = 3
VPC_ID = re.compile(r"^vpc-[0-9a-f]{8,17}$")
GROUP_ID = re.compile(r"^sg-[0-9a-f]{8,17}$")
ACL_ID = re.compile(r"^acl-[0-9a-f]{8,17}$")
RULE_ID = re.compile(r"^sgr-[0-9a-f]{8,17}$")
ANALYSIS_ID = re.compile(r"^nia-[0-9a-f]{8,17}$")
#: The reachability form's fields, carried through the redirect so the form shows what was analysed.
FORM_FIELDS = ("source", "destination", "protocol", "port")


def _checked(pattern: re.Pattern[str], value: str) -> str:
    if not pattern.match(value):
        abort(404)
    return value


def _arn(kind: str, resource_id: str) -> str:
    config = cloud().config
    return f"arn:{config.partition}:ec2:{config.region}:{g.api.principal.account_id}:{kind}/{resource_id}"


def _tags(resource: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags") or []}


def _all(operation: str, member: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every item of a Describe call (following NextToken, which the API sends only when asked to page)."""
    items: list[dict[str, Any]] = []
    while True:
        answer = g.api.call("ec2", operation, params)
        items += answer.get(member, [])
        if not answer.get("NextToken"):
            return items
        params = {**params, "NextToken": answer["NextToken"]}


def _by_vpc(vpc_id: str, name: str = "vpc-id") -> dict[str, Any]:
    return {"Filters": [{"Name": name, "Values": [vpc_id]}]}


# --- the VPC list and topology ----------------------------------------------------------------------------


@blueprint.get("/vpc")
def vpcs() -> tuple[str, int]:
    try:
        listed = _all("DescribeVpcs", "Vpcs", {})
    except ServiceCallError as refused:
        return render_template("vpc_list.html", vpcs=[], error=refused), refused.status
    rows = [{"id": v["VpcId"], "name": vpc_graph.name_of(v), "cidr": v.get("CidrBlock", ""),
             "state": v.get("State", ""), "default": v.get("IsDefault", False)} for v in listed]
    return render_template("vpc_list.html", vpcs=sorted(rows, key=lambda r: r["id"]), error=None), 200


@blueprint.get("/vpc/<vpc_id>")
def vpc_topology(vpc_id: str) -> tuple[str, int]:
    """The picture (drawn by the page's script from :func:`vpc_graph_document`) and the VPC's security
    groups and network ACLs, each linking to its editor."""
    _checked(VPC_ID, vpc_id)
    try:
        groups = _all("DescribeSecurityGroups", "SecurityGroups", _by_vpc(vpc_id))
        acls = _all("DescribeNetworkAcls", "NetworkAcls", _by_vpc(vpc_id))
    except ServiceCallError as refused:
        return render_template("vpc_topology.html", vpc_id=vpc_id, error=refused, groups=[], acls=[],
                               poll_seconds=POLL_SECONDS), refused.status
    return render_template("vpc_topology.html", vpc_id=vpc_id, error=None, poll_seconds=POLL_SECONDS,
                           groups=sorted(groups, key=lambda x: x["GroupId"]),
                           acls=sorted(acls, key=lambda x: x["NetworkAclId"])), 200


@blueprint.get("/vpc/<vpc_id>/graph.json")
def vpc_graph_document(vpc_id: str) -> Response:
    """The topology document; 304 when the browser's If-None-Match already names its digest."""
    _checked(VPC_ID, vpc_id)
    try:
        document = vpc_graph.build(read_answers(vpc_id))
    except ServiceCallError as refused:
        response = jsonify({"error": {"code": refused.code, "message": refused.message}})
        response.status_code = refused.status
        return response
    etag = vpc_graph.digest(document)
    if etag in request.if_none_match:
        response = Response(status=304)
    else:
        response = jsonify({**document, "digest": etag})
    response.set_etag(etag)
    return response


def read_answers(vpc_id: str) -> vpc_graph.Answers:
    """One Describe per resource kind. Peerings are read from both sides' filter, egress-only gateways and
    peerings have no VPC filter on one call, so theirs is done here; instances are read by the ids the
    VPC's interfaces name, which also leaves out terminated ones."""
    vpc_list = _all("DescribeVpcs", "Vpcs", {"VpcIds": [vpc_id]})
    interfaces = _all("DescribeNetworkInterfaces", "NetworkInterfaces", _by_vpc(vpc_id))
    instance_ids = sorted({(n.get("Attachment") or {}).get("InstanceId", "") for n in interfaces} - {""})
    instances = [i for r in (_all("DescribeInstances", "Reservations", {"InstanceIds": instance_ids})
                             if instance_ids else []) for i in r.get("Instances", [])]
    peerings = _all("DescribeVpcPeeringConnections", "VpcPeeringConnections", {})
    egress_only = _all("DescribeEgressOnlyInternetGateways", "EgressOnlyInternetGateways", {})
    return vpc_graph.Answers(
        vpc=vpc_list[0],
        subnets=_all("DescribeSubnets", "Subnets", _by_vpc(vpc_id)),
        route_tables=_all("DescribeRouteTables", "RouteTables", _by_vpc(vpc_id)),
        internet_gateways=_all("DescribeInternetGateways", "InternetGateways", _by_vpc(vpc_id, "attachment.vpc-id")),
        egress_only_gateways=[e for e in egress_only
                              if any(a.get("VpcId") == vpc_id for a in e.get("Attachments") or [])],
        nat_gateways=[n for n in _all("DescribeNatGateways", "NatGateways", {"Filter": _by_vpc(vpc_id)["Filters"]})
                      if n.get("State") not in ("deleted", "failed")],
        peerings=[p for p in peerings if vpc_id in ((p.get("RequesterVpcInfo") or {}).get("VpcId"),
                                                    (p.get("AccepterVpcInfo") or {}).get("VpcId"))
                  and (p.get("Status") or {}).get("Code") not in ("deleted", "rejected", "failed", "expired")],
        endpoints=[e for e in _all("DescribeVpcEndpoints", "VpcEndpoints", _by_vpc(vpc_id))
                   if e.get("State", "").lower() != "deleted"],
        interfaces=interfaces,
        instances=[i for i in instances if i.get("State", {}).get("Name") != "terminated"],
        security_groups=_all("DescribeSecurityGroups", "SecurityGroups", _by_vpc(vpc_id)),
    )


# --- the security group editor ----------------------------------------------------------------------------


@blueprint.get("/vpc/security-groups/<group_id>")
def security_group(group_id: str) -> tuple[str, int]:
    return _group_page(_checked(GROUP_ID, group_id))


@blueprint.post("/vpc/security-groups/<group_id>/rules")
def add_security_group_rule(group_id: str) -> Response | tuple[str, int]:
    _checked(GROUP_ID, group_id)
    direction = "Egress" if request.form.get("direction") == "egress" else "Ingress"
    try:
        permission = vpc_forms.security_group_permission(request.form)
        g.api.call("ec2", f"AuthorizeSecurityGroup{direction}", {"GroupId": group_id, "IpPermissions": [permission]})
    except (ServiceCallError, FormError) as refused:
        return _group_page(group_id, error=refused, form=request.form)
    return redirect(url_for("console.security_group", group_id=group_id, done="added"), code=303)


@blueprint.post("/vpc/security-groups/<group_id>/rules/<rule_id>/revoke")
def revoke_security_group_rule(group_id: str, rule_id: str) -> Response | tuple[str, int]:
    _checked(GROUP_ID, group_id)
    _checked(RULE_ID, rule_id)
    direction = "Egress" if request.form.get("direction") == "egress" else "Ingress"
    try:
        g.api.call("ec2", f"RevokeSecurityGroup{direction}", {"GroupId": group_id, "SecurityGroupRuleIds": [rule_id]})
    except ServiceCallError as refused:
        return _group_page(group_id, error=refused)
    return redirect(url_for("console.security_group", group_id=group_id, done="removed"), code=303)


def _group_page(group_id: str, *, error: Any = None, form: Any = None) -> tuple[str, int]:
    """The group, its rules (DescribeSecurityGroupRules) and what the principal may change."""
    status = getattr(error, "status", 400) if error is not None else 200
    try:
        group = g.api.call("ec2", "DescribeSecurityGroups", {"GroupIds": [group_id]})["SecurityGroups"][0]
        rules = _all("DescribeSecurityGroupRules", "SecurityGroupRules",
                     {"Filters": [{"Name": "group-id", "Values": [group_id]}]})
    except ServiceCallError as refused:
        return render_template("vpc_security_group.html", group=None, group_id=group_id, error=refused,
                               list_error=refused, form={}), refused.status
    arn, tags = _arn("security-group", group_id), _tags(group)
    may = {f"{verb}_{direction}": g.api.may(f"ec2:{verb.capitalize()}SecurityGroup{direction.capitalize()}", arn, tags)
           for verb in ("authorize", "revoke") for direction in ("ingress", "egress")}
    shown = [{**r, "peer": vpc_forms.rule_peer(r),
              "ports": vpc_forms.port_range(r.get("IpProtocol", "-1"), r.get("FromPort"), r.get("ToPort"))}
             for r in sorted(rules, key=lambda r: r["SecurityGroupRuleId"])]
    done = {"added": "Rule added.", "removed": "Rule removed."}.get(request.args.get("done", ""), "")
    return render_template("vpc_security_group.html", group=group, group_id=group_id, may=may, error=error,
                           list_error=None, notice=done, form=form or {},
                           ingress=[r for r in shown if not r.get("IsEgress")],
                           egress=[r for r in shown if r.get("IsEgress")]), status


# --- the network ACL editor -------------------------------------------------------------------------------


@blueprint.get("/vpc/network-acls/<acl_id>")
def network_acl(acl_id: str) -> tuple[str, int]:
    return _acl_page(_checked(ACL_ID, acl_id))


@blueprint.post("/vpc/network-acls/<acl_id>/entries")
def put_network_acl_entry(acl_id: str) -> Response | tuple[str, int]:
    """Create an entry, or replace the one with that rule number when the form's Replace button was used."""
    _checked(ACL_ID, acl_id)
    operation = "ReplaceNetworkAclEntry" if request.form.get("op") == "replace" else "CreateNetworkAclEntry"
    try:
        g.api.call("ec2", operation, vpc_forms.network_acl_entry(request.form, acl_id))
    except (ServiceCallError, FormError) as refused:
        return _acl_page(acl_id, error=refused, form=request.form)
    done = "replaced" if operation.startswith("Replace") else "added"
    return redirect(url_for("console.network_acl", acl_id=acl_id, done=done), code=303)


@blueprint.post("/vpc/network-acls/<acl_id>/entries/delete")
def delete_network_acl_entry(acl_id: str) -> Response | tuple[str, int]:
    _checked(ACL_ID, acl_id)
    try:
        params = {"NetworkAclId": acl_id, "Egress": request.form.get("direction") == "egress",
                  "RuleNumber": int(request.form.get("rule_number", ""))}
        g.api.call("ec2", "DeleteNetworkAclEntry", params)
    except ValueError:
        return _acl_page(acl_id, error=FormError("The rule number must be a number."))
    except ServiceCallError as refused:
        return _acl_page(acl_id, error=refused)
    return redirect(url_for("console.network_acl", acl_id=acl_id, done="removed"), code=303)


def _acl_page(acl_id: str, *, error: Any = None, form: Any = None) -> tuple[str, int]:
    status = getattr(error, "status", 400) if error is not None else 200
    try:
        acl = g.api.call("ec2", "DescribeNetworkAcls", {"NetworkAclIds": [acl_id]})["NetworkAcls"][0]
    except ServiceCallError as refused:
        return render_template("vpc_network_acl.html", acl=None, acl_id=acl_id, error=refused,
                               list_error=refused, form={}), refused.status
    arn, tags = _arn("network-acl", acl_id), _tags(acl)
    may = {verb: g.api.may(f"ec2:{verb}NetworkAclEntry", arn, tags) for verb in ("Create", "Replace", "Delete")}
    entries = [{**e, "protocol_name": vpc_forms.ACL_PROTOCOL_NAMES.get(str(e.get("Protocol")), e.get("Protocol")),
                "ports": vpc_forms.acl_ports(e)}
               for e in sorted(acl.get("Entries") or [], key=lambda e: (e.get("Egress"), e.get("RuleNumber")))]
    done = {"added": "Entry added.", "replaced": "Entry replaced.",
            "removed": "Entry removed."}.get(request.args.get("done", ""), "")
    return render_template("vpc_network_acl.html", acl=acl, acl_id=acl_id, may=may, error=error,
                           list_error=None, notice=done, form=form or {},
                           inbound=[e for e in entries if not e.get("Egress")],
                           outbound=[e for e in entries if e.get("Egress")]), status


# --- Reachability Analyzer --------------------------------------------------------------------------------


@blueprint.get("/vpc/<vpc_id>/reachability")
def reachability(vpc_id: str) -> tuple[str, int]:
    _checked(VPC_ID, vpc_id)
    analysis_id = request.args.get("analysis", "")
    form = {name: request.args.get(name, "") for name in FORM_FIELDS}  # the run's choices, kept for the next
    return _reachability_page(vpc_id, analysis_id=analysis_id if ANALYSIS_ID.match(analysis_id) else "", form=form)


@blueprint.post("/vpc/<vpc_id>/reachability")
def analyze_path(vpc_id: str) -> Response | tuple[str, int]:
    """CreateNetworkInsightsPath then StartNetworkInsightsAnalysis; the verdict is read on the redirect. Both
    take a client token, which SDKs fill in for their callers: so does the console, one per run."""
    _checked(VPC_ID, vpc_id)
    form = request.form
    params: dict[str, Any] = {"Source": form.get("source", ""), "Destination": form.get("destination", ""),
                              "Protocol": form.get("protocol", "tcp"), "ClientToken": str(uuid.uuid4())}
    try:
        if form.get("port", "").strip():
            params["DestinationPort"] = vpc_forms.number(form, "port", 0)
        path = g.api.call("ec2", "CreateNetworkInsightsPath", params)["NetworkInsightsPath"]
        started = g.api.call("ec2", "StartNetworkInsightsAnalysis",
                             {"NetworkInsightsPathId": path["NetworkInsightsPathId"],
                              "ClientToken": str(uuid.uuid4())})["NetworkInsightsAnalysis"]
    except (ServiceCallError, FormError) as refused:
        return _reachability_page(vpc_id, error=refused, form=form)
    return redirect(url_for("console.reachability", vpc_id=vpc_id, analysis=started["NetworkInsightsAnalysisId"],
                            **{name: form.get(name, "") for name in FORM_FIELDS}), code=303)


def _reachability_page(vpc_id: str, *, analysis_id: str = "", error: Any = None,
                       form: Any = None) -> tuple[str, int]:
    """The form's choices (the VPC's interfaces and the instances they belong to) and, after a run, the
    analysis with its path and explanations, and its path given to the topology picture to highlight."""
    status = getattr(error, "status", 400) if error is not None else 200
    try:
        interfaces = _all("DescribeNetworkInterfaces", "NetworkInterfaces", _by_vpc(vpc_id))
        analysis = None
        if analysis_id:
            found = g.api.call("ec2", "DescribeNetworkInsightsAnalyses", {"NetworkInsightsAnalysisIds": [analysis_id]})
            analysis = (found.get("NetworkInsightsAnalyses") or [None])[0]
    except ServiceCallError as refused:
        return render_template("vpc_reachability.html", vpc_id=vpc_id, error=refused, endpoints=[],
                               analysis=None, may_analyze=False, form={}, poll_seconds=POLL_SECONDS), refused.status
    endpoints = []
    for eni in sorted(interfaces, key=lambda n: n["NetworkInterfaceId"]):
        instance = (eni.get("Attachment") or {}).get("InstanceId", "")
        endpoints.append((eni["NetworkInterfaceId"], f"{eni['NetworkInterfaceId']} ({eni.get('PrivateIpAddress', '')}"
                                                    f"{', ' + instance if instance else ''})"))
        if instance:
            endpoints.append((instance, f"{instance} (instance)"))
    may_analyze = (g.api.may("ec2:CreateNetworkInsightsPath", _arn("network-insights-path", "*"))
                   and g.api.may("ec2:StartNetworkInsightsAnalysis", _arn("network-insights-analysis", "*")))
    return render_template("vpc_reachability.html", vpc_id=vpc_id, error=error, endpoints=sorted(set(endpoints)),
                           analysis=analysis and _shown_analysis(analysis), may_analyze=may_analyze,
                           form=form or {}, poll_seconds=POLL_SECONDS), status


def _shown_analysis(analysis: dict[str, Any]) -> dict[str, Any]:
    """The analysis as the page shows it: hops with their detail, explanations in words, and the component
    ids the picture highlights (the path, or the explanations' components where it stopped)."""
    hops = [{"sequence": hop.get("SequenceNumber"), "id": hop["Component"].get("Id", ""),
             "kind": vpc_forms.component_kind(hop["Component"]), "detail": vpc_forms.hop_detail(hop)}
            for hop in analysis.get("ForwardPathComponents") or []]
    explanations = [{"code": e.get("ExplanationCode", ""), "words": vpc_forms.explain(e)}
                    for e in analysis.get("Explanations") or []]
    blocked = sorted({str(v.get("Id")) for e in analysis.get("Explanations") or [] for v in e.values()
                      if isinstance(v, dict) and v.get("Id")})
    return {"id": analysis["NetworkInsightsAnalysisId"], "path_id": analysis.get("NetworkInsightsPathId", ""),
            "status": analysis.get("Status", ""), "found": analysis.get("NetworkPathFound"), "hops": hops,
            "explanations": explanations, "highlight": [h["id"] for h in hops], "blocked": blocked,
            # what the probe sent through the dataplane showed (the API's WarningMessage; none off-agent)
            "probe": analysis.get("WarningMessage", "")}
