"""GetFunction's ``Code.Location``: a presigned, expiring URL where the controller serves the package.

AWS answers a presigned S3 URL valid for ten minutes. Cloudlet serves the stored zip itself, at
``/_cloudlet/lambda/code/<sha256>?expires=<epoch>&signature=<hmac>``: the signature (HMAC-SHA256 under
a key private to the cloud) covers the blob and the expiry, so the URL works without credentials,
for that package only, until it expires, as AWS's does.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

from flask import Blueprint, Response, abort, current_app, request, send_file

from controller.awslambda import code_store

PATH_PREFIX = "/_cloudlet/lambda/code"
VALID_SECONDS = 600

blueprint = Blueprint("lambda_code", __name__)


def sign(cloud: Any, sha256_hex: str, expires: int) -> str:
    """The URL's signature: an HMAC of the package's name and the expiry."""
    return hmac.new(code_store.store_of(cloud).url_key, f"{sha256_hex}:{expires}".encode(), hashlib.sha256).hexdigest()


def presigned(ctx: Any, sha256_hex: str) -> str:
    """A URL that serves the package for ten minutes, on the endpoint the caller used."""
    expires = int(time.time()) + VALID_SECONDS
    base = f"{'https' if ctx.secure_transport else 'http'}://{ctx.host}" if ctx.host else \
        ctx.cloud.config.endpoint_url.rstrip("/")
    return f"{base}{PATH_PREFIX}/{sha256_hex}?expires={expires}&signature={sign(ctx.cloud, sha256_hex, expires)}"


@blueprint.get("/<sha256_hex>")
def download(sha256_hex: str) -> Response:
    cloud = current_app.config["CLOUD"]
    try:
        expires = int(request.args.get("expires", ""))
    except ValueError:
        abort(403)
    given = request.args.get("signature", "")
    if expires < time.time() or not hmac.compare_digest(given, sign(cloud, sha256_hex, expires)):
        abort(403)
    path = code_store.open_path(cloud, sha256_hex)
    if path is None:
        abort(404)
    return send_file(path, mimetype="application/zip", as_attachment=True, download_name=f"{sha256_hex}.zip")
