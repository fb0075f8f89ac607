"""The agent-facing HTTP endpoints (``/_cloudlet/agent/v1/...``).

Agents authenticate with a bearer token: the cloud-wide one the controller keeps in its data dir
(``agent.token``, mode 0600; the agent ``cloudlet up`` starts uses it) or a joined host's own credential
(``controller/hosts/credentials.py``), which acts only for its host: a route naming another host, or a
registration of another host id, is refused with 403. A registration names the host's AZ, which must be
one of the region's zones.

Every JSON body is read with :func:`read_message` (``agent.contract.codec``): a malformed one is answered 400
naming the field, one of another major contract version 426 naming both versions (the compatibility rule
of ``agent.contract.version``), by this blueprint's error handlers, never a 500.

- ``POST /hosts``: register (``agent.contract.hosts.HostRegistration``); ``POST /hosts/<id>/heartbeat``.
- ``GET /hosts/<id>/desired?generation=N&digest=D&wait=S``: the host's desired document
  (``agent.contract.desired.DesiredState``). A long-poll: while the generation is still ``N`` the request waits
  (up to ``S`` seconds, at most :data:`MAX_WAIT`), so changes reach agents within milliseconds without
  busy polling. A new generation whose document is unchanged for this host (same digest) keeps
  waiting; at the end of the wait the document is checked once more (states that change with time
  alone, such as a host going down) and ``changed: false`` is answered when it is the same.
- ``POST /hosts/<id>/release``: end this host's pending long-polls now (an agent shutting down).
- ``GET /hosts/<id>/metadata?eni=ENI``: what the instance behind that interface may read from the
  metadata service, from ``controller.ec2.instances.metadata.metadata_for_interface(cloud, eni_id)``; 404 when
  it answers None (no instance there) or the interface is not plugged on this host.

The compute agent's endpoints are in ``instance_reports``, on the same blueprint; ``agent_api`` is
what registers them all.
"""

from __future__ import annotations

import base64
import time
from typing import Any, TypeVar

from flask import Blueprint, abort, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue

from agent.contract.codec import from_json, to_json
from agent.contract.desired import DesiredState
from agent.contract.hosts import Heartbeat, HostRegistration
from agent.contract.version import CONTRACT_VERSION, ContractError, IncompatibleVersion
from controller.ec2.instances.metadata import metadata_for_interface
from controller.ec2.vpc.eni_records import interface_host
from controller.hosts import desired, state

blueprint = Blueprint("agent_rpc", __name__)

#: The longest a desired-state request may wait for a change (agents ask for less; HTTP servers and
#: proxies keep idle requests open at least this long).
MAX_WAIT = 25.0

T = TypeVar("T")


def read_message(cls: type[T], **overrides: Any) -> T:
    """The request's JSON body as ``cls`` (``overrides`` win over the body's keys, e.g. the route's host id);
    ContractError when it is not one, which the error handlers below answer."""
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        raise ContractError(f"{cls.__name__}: the body is not a JSON object")
    return from_json(cls, {**body, **overrides})


@blueprint.errorhandler(IncompatibleVersion)
def refuse_version(exc: IncompatibleVersion) -> ResponseReturnValue:
    """426 Upgrade Required: the agent must be upgraded (or downgraded) to this controller's major."""
    return jsonify(error=str(exc), contract_version=CONTRACT_VERSION), 426


@blueprint.errorhandler(ContractError)
def refuse_malformed(exc: ContractError) -> ResponseReturnValue:
    return jsonify(error=f"bad {request.path.rsplit('/', 1)[-1]} message: {exc}"), 400


@blueprint.before_request
def require_agent_token() -> None:
    cloud = current_app.config["CLOUD"]
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    identity = cloud.agent_credentials.verify(token) if scheme == "Bearer" else None
    if identity is None:
        abort(401)
    host_id = (request.view_args or {}).get("host_id")
    if host_id is not None and not identity.may_act_for(host_id):
        abort(403)
    g.agent_identity = identity


@blueprint.post("/hosts")
def register_host() -> Any:
    cloud = current_app.config["CLOUD"]
    registration = read_message(HostRegistration)
    if not g.agent_identity.may_act_for(registration.host_id):
        return jsonify(error=f"this credential belongs to another host than {registration.host_id}"), 403
    if registration.zone not in cloud.config.availability_zones:
        return jsonify(error=f"zone {registration.zone!r} is not one of {cloud.config.availability_zones}"), 400
    state.register(cloud.db, registration)
    return jsonify(registered=registration.host_id), 201


@blueprint.post("/hosts/<host_id>/heartbeat")
def host_heartbeat(host_id: str) -> Any:
    cloud = current_app.config["CLOUD"]
    beat = read_message(Heartbeat, host_id=host_id)
    if not state.heartbeat(cloud.db, beat):
        return jsonify(error="unknown host: register first"), 404
    return jsonify(ok=True)


@blueprint.get("/hosts")
def hosts() -> Any:
    cloud = current_app.config["CLOUD"]
    return jsonify(hosts=[to_json(h) for h in state.list_hosts(cloud.db)])


@blueprint.get("/hosts/<host_id>/desired")
def host_desired(host_id: str) -> Any:
    cloud = current_app.config["CLOUD"]
    try:
        known = int(request.args.get("generation", "-1"))
        wait = min(max(float(request.args.get("wait", "0")), 0.0), MAX_WAIT)
    except ValueError:
        return jsonify(error="generation must be an integer and wait a number of seconds"), 400
    known_digest = request.args.get("digest", "")
    all_hosts = state.list_hosts(cloud.db)
    if not any(h.host_id == host_id for h in all_hosts):
        return jsonify(error="unknown host: register first"), 404
    watch = cloud.host_generation
    deadline = time.monotonic() + wait
    releases = watch.releases(host_id)
    current = watch.current()
    while True:
        released = watch.releases(host_id) != releases or watch.closed
        if current != known or time.monotonic() >= deadline or released:
            document = _assemble(cloud, host_id, current)
            if document.digest != known_digest:
                return jsonify(to_json(document))
            if time.monotonic() >= deadline or released:
                return jsonify(to_json(DesiredState(generation=current, digest=known_digest, changed=False)))
            known = current  # a change elsewhere: this host's document is the same, keep waiting
        current = watch.wait(known, max(0.0, deadline - time.monotonic()))


@blueprint.post("/hosts/<host_id>/release")
def host_release(host_id: str) -> Any:
    current_app.config["CLOUD"].host_generation.release(host_id)
    return jsonify(ok=True)


@blueprint.get("/hosts/<host_id>/metadata")
def host_metadata(host_id: str) -> Any:
    cloud = current_app.config["CLOUD"]
    eni_id = request.args.get("eni", "")
    with cloud.db.read() as conn:
        plugged_on = interface_host(conn, eni_id) if eni_id else None
    if plugged_on != host_id:
        return jsonify(error=f"interface {eni_id!r} is not plugged on host {host_id}"), 404
    data = metadata_for_interface(cloud, eni_id)
    if data is None:
        return jsonify(error=f"no instance metadata for {eni_id}"), 404
    return jsonify(metadata_json(data))


def metadata_json(data: Any) -> dict[str, Any]:
    """The wire form of what ``metadata_for_interface`` returns: an ``agent.network.imds.InstanceMetadata``
    or a dict with its fields (``meta_data``, ``user_data`` bytes/str/None, ``dynamic``, optional
    ``ttl_seconds``); user data travels base64-encoded."""
    fields = data if isinstance(data, dict) else vars(data)
    user_data = fields.get("user_data")
    if isinstance(user_data, str):
        user_data = user_data.encode()
    result: dict[str, Any] = {"meta_data": fields.get("meta_data") or {}, "dynamic": fields.get("dynamic") or {},
                              "user_data_b64": base64.b64encode(user_data).decode() if user_data is not None else None}
    if fields.get("ttl_seconds") is not None:
        result["ttl_seconds"] = fields["ttl_seconds"]
    return result


def _assemble(cloud: Any, host_id: str, current: int) -> DesiredState:
    all_hosts = state.list_hosts(cloud.db)
    host = next((h for h in all_hosts if h.host_id == host_id), None)
    return desired.assemble(cloud.host_sections, cloud.db, cloud.config, host_id, host, all_hosts, current)
