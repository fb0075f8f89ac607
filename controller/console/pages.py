"""The console's pages: the overview, EC2 instances (list, launch, actions, console output).

Each page's data is a few API calls as the signed-in principal (``g.api``), never a table read; the one
exception is the hosts list on the overview (:func:`controller.hosts.state.list_hosts`), shown only to
whom :meth:`ConsoleApi.sees_hosts` allows. Listings are read one page of :data:`PAGE_SIZE` at a time with
the API's own NextToken, so a page costs the same with 10 instances or 10,000. An action that succeeds
redirects (303) back to the list with a notice, so reloading does not repeat it; a refused one shows the
list again with the API's error code and message, under the API's status.

Importing this module completes the console's :data:`blueprint` (``controller/wsgi.py`` registers it).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Any

from flask import Response, abort, g, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from controller.console import (  # noqa: F401  (the other pages register their routes on the same blueprint)
    pages_functions,
    pages_iam,
    pages_images,
    pages_metrics,
    pages_roles,
    pages_s3,
    pages_services,
    pages_shell,
    pages_trail,
    pages_volumes,
    pages_vpc,
)
from controller.console.app import blueprint, cloud
from controller.console.calls import PAGE_SIZE, ServiceCallError
from controller.hosts.state import list_hosts

__all__ = ["blueprint"]

#: How often the instances page refreshes its rows (htmx), in seconds.
POLL_SECONDS = 5
INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,17}$")
#: Button -> (operation, the states an instance must be in for the button to make sense, notice verb).
ACTIONS: dict[str, tuple[str, frozenset[str], str]] = {
    "start": ("StartInstances", frozenset({"stopped"}), "Starting"),
    "stop": ("StopInstances", frozenset({"pending", "running"}), "Stopping"),
    "reboot": ("RebootInstances", frozenset({"running"}), "Rebooting"),
    "terminate": ("TerminateInstances", frozenset({"pending", "running", "stopping", "stopped"}),
                  "Terminating"),
}
#: Accelerators as agents register them (``HostRegistration.hypervisor``) -> what an operator calls them.
ACCELERATORS = {"kvm": "KVM", "qemu": "TCG", "none": "none"}
#: Instance types offered in the launch form's suggestions (any other type may be typed in).
SUGGESTED_TYPE_PATTERNS = ["t3.*", "m5.large", "m5.xlarge", "c5.large", "c5.xlarge"]


@dataclass
class Row:
    """One instance as the list shows it, with what the principal may do to it right now."""

    instance_id: str
    name: str
    state: str
    instance_type: str
    zone: str
    private_ip: str
    public_ip: str
    launched: str
    #: button -> (enabled, why not when disabled)
    buttons: dict[str, tuple[bool, str]] = field(default_factory=dict)
    console_allowed: bool = False


@blueprint.get("/")
def overview() -> str:
    api = g.api
    hosts = list_hosts(cloud().db) if api.sees_hosts() else None
    return render_template("overview.html", hosts=hosts, accelerators=ACCELERATORS,
                           may_list_instances=api.may("ec2:DescribeInstances"))


@blueprint.get("/ec2/instances")
def instances() -> str:
    notice = _notice(request.args.get("done", ""), request.args.get("instance", ""))
    return render_template("instances.html", notice=notice, **_instances_page(request.args.get("next", "")))


@blueprint.get("/ec2/instances/rows")
def instance_rows() -> str:
    """The table body alone: what the page's htmx poll swaps in."""
    return render_template("instance_rows.html", **_instances_page(request.args.get("next", "")))


@blueprint.post("/ec2/instances/<instance_id>/<action>")
def instance_action(instance_id: str, action: str) -> Response | tuple[str, int]:
    if action not in ACTIONS or not INSTANCE_ID.match(instance_id):
        abort(404)
    try:
        g.api.call("ec2", ACTIONS[action][0], {"InstanceIds": [instance_id]})
    except ServiceCallError as refused:
        return render_template("instances.html", error=refused, **_instances_page("")), refused.status
    return redirect(url_for("console.instances", done=action, instance=instance_id), code=303)


@blueprint.get("/ec2/instances/<instance_id>/console-output")
def console_output(instance_id: str) -> tuple[str, int]:
    if not INSTANCE_ID.match(instance_id):
        abort(404)
    try:
        answer = g.api.call("ec2", "GetConsoleOutput", {"InstanceId": instance_id, "Latest": True})
    except ServiceCallError as refused:
        return render_template("console_output.html", instance_id=instance_id, error=refused), refused.status
    try:
        output = base64.b64decode(answer.get("Output") or "").decode("utf-8", "replace")
    except binascii.Error:
        output = ""
    return render_template("console_output.html", instance_id=instance_id, output=output,
                           timestamp=answer.get("Timestamp")), 200


@blueprint.get("/ec2/instances/launch")
def launch_form() -> str:
    """The empty form, or with ``?image_id=`` the AMI preselected (the AMIs page's Launch links)."""
    preset = {"image_id": request.args["image_id"]} if request.args.get("image_id") else {}
    return render_template("launch.html", **_launch_choices(), form=MultiDict(preset))


@blueprint.post("/ec2/instances/launch")
def launch() -> Response | tuple[str, int]:
    form = request.form
    params: dict[str, Any] = {"ImageId": form.get("image_id", ""), "MinCount": 1, "MaxCount": 1,
                              "InstanceType": form.get("instance_type", "")}
    for name, member in (("subnet_id", "SubnetId"), ("key_name", "KeyName")):
        if form.get(name):
            params[member] = form[name]
    if form.getlist("security_group_ids"):
        params["SecurityGroupIds"] = form.getlist("security_group_ids")
    if form.get("user_data"):  # the API takes it base64 encoded (SDKs encode it for their callers)
        params["UserData"] = base64.b64encode(form["user_data"].encode()).decode()
    if form.get("name"):
        name_tag = {"Key": "Name", "Value": form["name"]}
        params["TagSpecifications"] = [{"ResourceType": "instance", "Tags": [name_tag]}]
    try:
        answer = g.api.call("ec2", "RunInstances", params)
    except ServiceCallError as refused:
        return render_template("launch.html", error=refused, form=form, **_launch_choices()), refused.status
    launched = answer["Instances"][0]["InstanceId"]
    return redirect(url_for("console.instances", done="launch", instance=launched), code=303)


def _instances_page(next_token: str) -> dict[str, Any]:
    """One page of the caller's instances (one DescribeInstances call) and what they may do with them."""
    api = g.api
    params: dict[str, Any] = {"MaxResults": PAGE_SIZE}
    if next_token:
        params["NextToken"] = next_token
    try:
        answer = api.call("ec2", "DescribeInstances", params)
    except ServiceCallError as refused:
        return {"rows": [], "list_error": refused, "next_token": "", "this_token": next_token,
                "may_launch": False, "poll_seconds": POLL_SECONDS}
    config = cloud().config
    arn_prefix = f"arn:{config.partition}:ec2:{config.region}:{api.principal.account_id}:instance/"
    rows = [_row(api, instance, arn_prefix) for reservation in answer.get("Reservations", [])
            for instance in reservation.get("Instances", [])]
    return {"rows": rows, "list_error": None, "next_token": answer.get("NextToken", ""),
            "this_token": next_token, "may_launch": api.may("ec2:RunInstances", f"{arn_prefix}*"),
            "poll_seconds": POLL_SECONDS}


def _row(api: Any, instance: dict[str, Any], arn_prefix: str) -> Row:
    tags = {tag["Key"]: tag["Value"] for tag in instance.get("Tags", [])}
    arn = arn_prefix + instance["InstanceId"]
    state = instance.get("State", {}).get("Name", "")
    launched = instance.get("LaunchTime")
    row = Row(instance_id=instance["InstanceId"], name=tags.get("Name", ""), state=state,
              instance_type=instance.get("InstanceType", ""),
              zone=instance.get("Placement", {}).get("AvailabilityZone", ""),
              private_ip=instance.get("PrivateIpAddress", ""), public_ip=instance.get("PublicIpAddress", ""),
              launched=launched.strftime("%Y-%m-%d %H:%M UTC") if launched else "",
              console_allowed=api.may("ec2:GetConsoleOutput", arn, tags))
    for button, (operation, states, _) in ACTIONS.items():
        if not api.may(f"ec2:{operation}", arn, tags):
            row.buttons[button] = (False, f"Your permissions do not allow ec2:{operation} on this instance.")
        elif state not in states:
            row.buttons[button] = (False, f"Not possible while the instance is {state}.")
        else:
            row.buttons[button] = (True, "")
    return row


def _notice(done: str, instance_id: str) -> str:
    """The message after a successful action's redirect, built here (never text taken from the URL)."""
    if not INSTANCE_ID.match(instance_id):
        return ""
    if done == "launch":
        return f"Launched {instance_id}."
    if done in ACTIONS:
        return f"{ACTIONS[done][2]} {instance_id}."
    return ""


def _launch_choices() -> dict[str, Any]:
    """The launch form's choices: one call each for images, instance types, subnets, security groups and key
    pairs. A listing the principal may not read leaves its field free text and says why."""
    api = g.api
    listings = {
        "images": ("DescribeImages", {"Owners": ["self", "amazon"]}, "Images"),
        "instance_types": ("DescribeInstanceTypes", {"Filters": [{"Name": "instance-type",
                                                                   "Values": SUGGESTED_TYPE_PATTERNS}]},
                           "InstanceTypes"),
        "subnets": ("DescribeSubnets", {}, "Subnets"),
        "security_groups": ("DescribeSecurityGroups", {}, "SecurityGroups"),
        "key_pairs": ("DescribeKeyPairs", {}, "KeyPairs"),
    }
    choices: dict[str, Any] = {"listing_errors": {}}
    for name, (operation, params, member) in listings.items():
        try:
            choices[name] = api.call("ec2", operation, params).get(member, [])
        except ServiceCallError as refused:
            choices[name] = []
            choices["listing_errors"][name] = refused
    choices["instance_types"] = sorted(t["InstanceType"] for t in choices["instance_types"])
    return choices

