"""EBS volumes in the console: one DescribeVolumes page, and forms to create, attach, detach and delete.

A volume's buttons follow its state as EC2 would (attach and delete only while ``available``, detach only
while attached) and IAM's opinion; the API still decides. The create form's zones come from one
DescribeAvailabilityZones call, so a user picks a zone the cloud has rather than guessing its name.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Response, abort, g, redirect, render_template, request, url_for

from controller.console.app import blueprint
from controller.console.calls import PAGE_SIZE, ServiceCallError
from controller.console.pages_services import arn_prefix, button, notice, paged

VOLUME_ID = re.compile(r"^vol-[0-9a-f]{8,17}$")
#: EBS's volume types, gp3 first: the default of CreateVolume.
VOLUME_TYPES = ("gp3", "gp2", "io1", "io2", "st1", "sc1", "standard")
#: Button -> (operation, notice verb).
ACTIONS = {"detach": ("DetachVolume", "Detaching"), "delete": ("DeleteVolume", "Deleting")}


@blueprint.get("/ec2/volumes")
def svc_volumes() -> tuple[str, int]:
    return _volumes_page()


@blueprint.post("/ec2/volumes/create")
def svc_volume_create() -> Response | tuple[str, int]:
    form = request.form
    params: dict[str, Any] = {"AvailabilityZone": form.get("zone", ""),
                              "VolumeType": form.get("volume_type", "")}
    try:
        params["Size"] = int(form.get("size", ""))
    except ValueError:
        params["Size"] = 0  # the API says what sizes it takes
    if form.get("name"):
        params["TagSpecifications"] = [{"ResourceType": "volume",
                                        "Tags": [{"Key": "Name", "Value": form["name"]}]}]
    try:
        created = g.api.call("ec2", "CreateVolume", params)
    except ServiceCallError as refused:
        return _volumes_page(refused)
    return redirect(url_for("console.svc_volumes", done="create", name=created["VolumeId"]), code=303)


@blueprint.post("/ec2/volumes/<volume_id>/attach")
def svc_volume_attach(volume_id: str) -> Response | tuple[str, int]:
    if not VOLUME_ID.match(volume_id):
        abort(404)
    params = {"VolumeId": volume_id, "InstanceId": request.form.get("instance_id", "").strip(),
              "Device": request.form.get("device", "").strip()}
    try:
        g.api.call("ec2", "AttachVolume", params)
    except ServiceCallError as refused:
        return _volumes_page(refused)
    return redirect(url_for("console.svc_volumes", done="attach", name=volume_id), code=303)


@blueprint.post("/ec2/volumes/<volume_id>/<action>")
def svc_volume_action(volume_id: str, action: str) -> Response | tuple[str, int]:
    if action not in ACTIONS or not VOLUME_ID.match(volume_id):
        abort(404)
    try:
        g.api.call("ec2", ACTIONS[action][0], {"VolumeId": volume_id})
    except ServiceCallError as refused:
        return _volumes_page(refused)
    return redirect(url_for("console.svc_volumes", done=action, name=volume_id), code=303)


def _volumes_page(error: ServiceCallError | None = None) -> tuple[str, int]:
    """One page of volumes (DescribeVolumes) and the zones for the create form (DescribeAvailabilityZones)."""
    params, this_token = paged({"MaxResults": PAGE_SIZE})
    verbs = {"create": "Creating {}.".format, "attach": "Attaching {}.".format,
             **{button_name: (verb + " {}.").format for button_name, (_, verb) in ACTIONS.items()}}
    prefix = arn_prefix("ec2")
    values: dict[str, Any] = {"error": error, "this_token": this_token, "volumes": [], "next_token": "",
                              "notice": notice(verbs, VOLUME_ID), "volume_types": VOLUME_TYPES,
                              "may_create": button("ec2:CreateVolume", prefix + "volume/*", "account")}
    try:
        values["zones"] = [zone["ZoneName"] for zone in
                           g.api.call("ec2", "DescribeAvailabilityZones", {})["AvailabilityZones"]]
    except ServiceCallError:
        values["zones"] = []  # the form's zone field is then free text
    try:
        answer = g.api.call("ec2", "DescribeVolumes", params)
    except ServiceCallError as refused:
        return render_template("svc_volumes.html", list_error=refused, **values), refused.status
    for volume in answer.get("Volumes", []):
        arn = prefix + "volume/" + volume["VolumeId"]
        state = volume.get("State", "")
        available = state == "available"
        attached = any(a.get("State") in ("attaching", "attached") for a in volume.get("Attachments", []))
        values["volumes"].append({
            **volume, "name": next((t["Value"] for t in volume.get("Tags", []) if t["Key"] == "Name"), ""),
            "attach": button("ec2:AttachVolume", arn, "volume", available,
                             f"Only an available volume can be attached (it is {state})."),
            "detach": button("ec2:DetachVolume", arn, "volume", attached, "The volume is not attached."),
            "delete": button("ec2:DeleteVolume", arn, "volume", available,
                             f"Only an available volume can be deleted (it is {state})."),
        })
    values["next_token"] = answer.get("NextToken", "")
    return render_template("svc_volumes.html", list_error=None, **values), error.status if error else 200

