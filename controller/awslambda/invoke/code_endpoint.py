"""The agents' code endpoint (contract D): ``GET /_cloudlet/agent/v1/functions/code/<sha256 hex>``.

A function runner fetches a zip, layer or image archive it has not cached by the sha256 the invocation
names, with the agent bearer token (checked by the agent blueprint for every route), and verifies the
digest itself. Blobs come from Lambda's content-addressed code store; an unknown digest is a 404.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify, send_file

from controller.awslambda import code_store
from controller.hosts.rpc import blueprint


@blueprint.get("/functions/code/<sha256_hex>")
def function_code(sha256_hex: str) -> Any:
    path = code_store.open_path(current_app.config["CLOUD"], sha256_hex)
    if path is None:
        return jsonify(error=f"no code stored under sha256 {sha256_hex}"), 404
    return send_file(path, mimetype="application/octet-stream", conditional=False, etag=False)
