"""The compute agent's endpoints on the agent RPC: instance reports, AMI downloads, CreateImage uploads.

- ``POST /hosts/<id>/instances``: what the agent saw of the instances placed on its host
  (``agent.contract.reports.InstancesReport``)::

      {"complete": true,
       "instances": [{"instance_id": "i-...", "power": "running", "stopped_by_guest": false, "error": "",
                      "start_serial": 2}],                      # the last start request carried out
       "consoles": {"i-...": "<base64 of the console tail>"},   # only the ones that changed
       "reboots": {"i-...": 3},                                  # reboot requests carried out
       "capture_failures": {"ami-...": "why"},
       "volumes": {"i-...": ["vol-..."]}}                       # non-root EBS volumes plugged into each

  ``power`` is the driver's power state (``running``, ``shutoff``...), ``absent`` or ``failed`` (see
  ``controller.ec2.instances.lifecycle.Observation``); ``complete`` means every instance of the host's
  desired section is listed (one left out then has nothing on the host). ``volumes`` moves EBS
  attachments (``attaching`` -> ``attached``, ``detaching`` -> gone; contract C). Answers the instances
  whose state changed.
- ``GET /hosts/<id>/images/<ami>/<file>``: one file of an AMI an instance on this host uses (``root_disk``,
  ``kernel``, ``initrd``), for agents that do not share the controller's disk.
- ``PUT /hosts/<id>/images/<ami>/root_disk``: the root volume copy of a pending CreateImage of an
  instance on this host (a qcow2 stream).
"""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify, request, send_file

from agent.contract.reports import InstancesReport
from controller.ec2.instances import actions, image_store, images
from controller.ec2.instances.lifecycle import Observation
from controller.ec2.volumes import reports as volume_reports
from controller.errors import ServiceError
from controller.hosts.rpc import blueprint, read_message

FILE_ROLES = ("root_disk", "kernel", "initrd")


def _cloud() -> Any:
    return current_app.config["CLOUD"]


def observations(report: InstancesReport) -> dict[str, Observation]:
    """What the report says of each instance, as the lifecycle reads it (pure)."""
    return {item.instance_id: Observation(item.power, item.stopped_by_guest, item.error, item.start_serial)
            for item in report.instances}


@blueprint.post("/hosts/<host_id>/instances")
def report_instances(host_id: str) -> Any:
    cloud = _cloud()
    report = read_message(InstancesReport)
    changed = actions.apply_report(cloud, host_id, observations(report), complete=report.complete,
                                   consoles=report.console_bytes(), reboots=report.reboots)
    if report.volumes is not None:
        volume_reports.apply_instance_volumes(cloud, host_id, report.volumes)
    for image_id, reason in report.capture_failures.items():
        if images.capture_on_host(cloud.db, host_id, image_id):
            images.fail_capture(cloud.db, image_id, reason)
    return jsonify(changed=changed)


@blueprint.get("/hosts/<host_id>/images/<image_id>/<role>")
def image_file(host_id: str, image_id: str, role: str) -> Any:
    cloud = _cloud()
    row = images.image_used_on_host(cloud.db, host_id, image_id)
    if row is None or role not in FILE_ROLES or role not in row["files"]:
        return jsonify(error=f"no file {role!r} of {image_id} for host {host_id}"), 404
    path = image_store.image_dir(cloud.config, image_id) / row["files"][role]["file"]
    return send_file(path, mimetype="application/octet-stream", conditional=False, etag=False)


@blueprint.put("/hosts/<host_id>/images/<image_id>/root_disk")
def upload_capture(host_id: str, image_id: str) -> Any:
    cloud = _cloud()
    if not images.capture_on_host(cloud.db, host_id, image_id):
        return jsonify(error=f"no pending capture of {image_id} on host {host_id}"), 404
    try:
        images.complete_capture(cloud, image_id, request.stream)
    except ServiceError as exc:
        return jsonify(error=exc.message), 400
    except OSError as exc:
        return jsonify(error=f"could not store the image: {exc}"), 500
    return jsonify(image_id=image_id, state="available")
