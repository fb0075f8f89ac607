"""The agent-facing HTTP endpoints (``/_cloudlet/agent/v1/...``).

Agents authenticate with the bearer token the controller keeps in its data dir
(``agent.token``, mode 0600); a registration names the host's AZ, which must be one
of the region's zones.
"""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, abort, current_app, jsonify, request

from agent.wire import Heartbeat, HostRegistration, from_json, to_json
from controller.hosts import state

blueprint = Blueprint("agent_rpc", __name__)


@blueprint.before_request
def require_agent_token() -> None:
    cloud = current_app.config["CLOUD"]
    expected = f"Bearer {cloud.agent_token}"
    if not hmac.compare_digest(request.headers.get("Authorization", ""), expected):
        abort(401)


@blueprint.post("/hosts")
def register_host() -> Any:
    cloud = current_app.config["CLOUD"]
    try:
        registration = from_json(HostRegistration, request.get_json(force=True))
    except TypeError as exc:
        return jsonify(error=f"bad registration: {exc}"), 400
    if registration.zone not in cloud.config.availability_zones:
        return jsonify(error=f"zone {registration.zone!r} is not one of {cloud.config.availability_zones}"), 400
    state.register(cloud.db, registration)
    return jsonify(registered=registration.host_id), 201


@blueprint.post("/hosts/<host_id>/heartbeat")
def host_heartbeat(host_id: str) -> Any:
    cloud = current_app.config["CLOUD"]
    try:
        beat = from_json(Heartbeat, {**request.get_json(force=True), "host_id": host_id})
    except TypeError as exc:
        return jsonify(error=f"bad heartbeat: {exc}"), 400
    if not state.heartbeat(cloud.db, beat):
        return jsonify(error="unknown host: register first"), 404
    return jsonify(ok=True)


@blueprint.get("/hosts")
def hosts() -> Any:
    cloud = current_app.config["CLOUD"]
    return jsonify(hosts=[to_json(h) for h in state.list_hosts(cloud.db)])
