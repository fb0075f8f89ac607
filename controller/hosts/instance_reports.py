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
- ``PUT /hosts/<id>/instance-disks/<instance>``: the root overlay of a stopped instance this host is asked to
  send away (``send_disk``), with its sha256 in ``X-Cloudlet-Sha256``; once stored the instance belongs to
  the target host (``controller.ec2.instances.disk_moves``). 400 when the sha256 does not match, 409 when
  the instance is no longer waiting to move.
- ``GET /hosts/<id>/instance-disks/<instance>``: that overlay, for the host it moved to (``disk_from``).
  The instances report that shows the instance there ends the move and removes the staged file.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify, request, send_file

from agent.contract.instances import DISK_SHA256_HEADER
from agent.contract.reports import InstancesReport
from controller.ec2.instances import actions, disk_moves, image_store, images
from controller.ec2.instances.lifecycle import Observation
from controller.ec2.volumes import reports as volume_reports
from controller.ec2.vpc.state import write
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
    _end_disk_moves(cloud, host_id, report)
    for image_id, reason in report.capture_failures.items():
        if images.capture_on_host(cloud.db, host_id, image_id):
            images.fail_capture(cloud.db, image_id, reason)
    return jsonify(changed=changed)


def _end_disk_moves(cloud: Any, host_id: str, report: InstancesReport) -> None:
    """The disks moved to ``host_id`` whose domain it now reports are there: their staged copies go."""
    with cloud.db.read() as conn:
        if not disk_moves.fetching(conn, host_id):
            return  # the common case: no write transaction for it
    present = {item.instance_id for item in report.instances if item.power not in ("absent", "failed")}
    with write(cloud.db) as conn:
        moved_here = disk_moves.landed(conn, host_id, present)
    for instance_id in moved_here:
        disk_moves.staged_path(cloud.config, instance_id).unlink(missing_ok=True)


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


@blueprint.put("/hosts/<host_id>/instance-disks/<instance_id>")
def upload_instance_disk(host_id: str, instance_id: str) -> Any:
    cloud = _cloud()
    expected = (request.headers.get(DISK_SHA256_HEADER) or "").lower()
    with cloud.db.read() as conn:
        move = disk_moves.in_flight(conn, instance_id)
    if move is None or move["source_host_id"] != host_id or move["sha256"] is not None:
        return jsonify(error=f"{instance_id} is not waiting for its disk from host {host_id}"), 409
    if len(expected) != 64:
        return jsonify(error=f"the upload of {instance_id}'s disk needs its sha256 in {DISK_SHA256_HEADER}"), 400
    path = disk_moves.staged_path(cloud.config, instance_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        stored = image_store.copy_hashed(image_store.stream_chunks(request.stream), path)
    except OSError as exc:
        return jsonify(error=f"could not stage the disk of {instance_id}: {exc}"), 500
    if stored["sha256"] != expected:
        path.unlink(missing_ok=True)
        return jsonify(error=f"the disk of {instance_id} arrived with sha256 {stored['sha256']}, not {expected}: "
                             "send it again"), 400
    try:
        with write(cloud.db) as conn:
            target = disk_moves.staged(conn, instance_id, host_id, stored["sha256"], stored["size"])
    except disk_moves.NotMovable as exc:
        path.unlink(missing_ok=True)
        if isinstance(exc, disk_moves.NoLongerStopped):
            with write(cloud.db) as conn:
                disk_moves.cancel(conn, instance_id)
        return jsonify(error=str(exc)), 409
    return jsonify(instance_id=instance_id, host_id=target, size_bytes=stored["size"])


@blueprint.get("/hosts/<host_id>/instance-disks/<instance_id>")
def instance_disk(host_id: str, instance_id: str) -> Any:
    cloud = _cloud()
    with cloud.db.read() as conn:
        move = disk_moves.in_flight(conn, instance_id)
    path = disk_moves.staged_path(cloud.config, instance_id)
    if move is None or move["target_host_id"] != host_id or move["sha256"] is None or not path.is_file():
        return jsonify(error=f"no disk of {instance_id} is staged for host {host_id}"), 404
    return send_file(path, mimetype="application/octet-stream", conditional=False, etag=False)
