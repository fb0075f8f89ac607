"""The storage agent's endpoints on the agent RPC (contract C): volume reports and snapshot data.

- ``POST /hosts/<id>/volumes``: what the host's pool holds (``agent.contract.reports.VolumesReport``)::

      {"complete": true,
       "volumes": {"vol-...": {"state": "available" | "failed", "size_bytes": 8589934592, "error": ""}},
       "snapshots": {"snap-...": {"state": "completed" | "failed", "error": "", "size_bytes": 123}}}

  ``complete`` means every volume of the host's ``volumes`` section is listed (a deleted volume that is
  not has no file left). Answers the ids whose state changed.
- ``PUT /hosts/<id>/snapshots/<snap-id>``: the data of a pending snapshot of a volume on this host (a
  standalone qcow2 stream), before the report that says it is completed.
- ``GET /hosts/<id>/snapshots/<snap-id>``: that data back, for a volume this host is restoring from it
  (a snapshot's upload, or an AMI's root disk for the AMI's root snapshot).
"""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify, request, send_file

from agent.contract.reports import VolumesReport
from controller.ec2.volumes import reports, snapshot_store
from controller.hosts.rpc import blueprint, read_message


def _cloud() -> Any:
    return current_app.config["CLOUD"]


@blueprint.post("/hosts/<host_id>/volumes")
def report_volumes(host_id: str) -> Any:
    return jsonify(changed=reports.apply_storage_report(_cloud(), host_id, read_message(VolumesReport)))


@blueprint.put("/hosts/<host_id>/snapshots/<snapshot_id>")
def upload_snapshot(host_id: str, snapshot_id: str) -> Any:
    try:
        stored = reports.store_upload(_cloud(), host_id, snapshot_id, request.stream)
    except OSError as exc:
        return jsonify(error=f"could not store the snapshot: {exc}"), 500
    if not stored:
        return jsonify(error=f"no pending snapshot {snapshot_id} on host {host_id}"), 404
    return jsonify(snapshot_id=snapshot_id, stored=True)


@blueprint.get("/hosts/<host_id>/snapshots/<snapshot_id>")
def download_snapshot(host_id: str, snapshot_id: str) -> Any:
    cloud = _cloud()
    source = reports.restore_source(cloud, host_id, snapshot_id)
    if source is None:
        return jsonify(error=f"no volume of host {host_id} is restored from {snapshot_id}"), 404
    kind, where = source
    if kind == "file":
        return send_file(where, mimetype="application/octet-stream", conditional=False, etag=False)
    return Response(snapshot_store.read(cloud, str(where)), mimetype="application/octet-stream")
