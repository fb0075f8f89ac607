"""The console's S3 pages: buckets, objects by prefix, versions, uploads and downloads, policy and CORS.

Listings and configuration go through ``g.api`` like every other page. Object bytes do not: the console
signs a presigned PUT or GET URL with the session's own temporary credentials (botocore's presigner,
against the address the browser used, path-style), and the browser talks to S3 itself. So a large file
never passes through a console worker, S3 authorizes and audits the transfer as the signed-in user (its
bucket policy and conditions included), and the page stays same-origin: no CORS rule is needed for it.
The upload is driven by ``static/s3_upload.js`` (the Content-Security-Policy forbids inline script).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import quote

from botocore.config import Config
from botocore.session import Session as BotocoreSession
from flask import Response, abort, g, jsonify, redirect, render_template, request

from controller.console.app import blueprint, cloud
from controller.console.calls import ServiceCallError
from controller.protocol import load_service_model
from controller.protocol.faults import InputError
from controller.protocol.xmlcodec import XmlWriter, parse_document, read_value

PAGE_SIZE = 50
#: How long a presigned URL stays good: long enough for a slow upload to start, short enough that a
#: copied link soon stops working. Never past the session's own credentials (they sign it).
PRESIGN_SECONDS = 300
#: S3's answer to XML that does not fit PutBucketCors' schema, as the API words it.
MALFORMED_XML = ("The XML you provided was not well-formed or did not validate against our published schema")
_BOTOCORE = BotocoreSession()


@blueprint.get("/s3")
def buckets() -> tuple[str, int]:
    try:
        listed = g.api.call("s3", "ListBuckets").get("Buckets", [])
    except ServiceCallError as refused:
        return render_template("s3_buckets.html", buckets=[], error=refused), refused.status
    return render_template("s3_buckets.html", buckets=listed, error=None), 200


@blueprint.get("/s3/<bucket>")
def bucket(bucket: str) -> tuple[str, int]:
    """One page of the objects directly under ``prefix``, sub-prefixes shown as folders."""
    prefix = request.args.get("prefix", "")
    token = request.args.get("next", "")
    params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "Delimiter": "/", "MaxKeys": PAGE_SIZE}
    if token:
        params["ContinuationToken"] = token
    values: dict[str, Any] = {"bucket": bucket, "prefix": prefix, "crumbs": _crumbs(prefix), "this_token": token}
    try:
        listed = g.api.call("s3", "ListObjectsV2", params)
    except ServiceCallError as refused:
        return render_template("s3_bucket.html", error=refused, objects=[], folders=[], **values), refused.status
    return render_template(
        "s3_bucket.html", error=None, objects=listed.get("Contents", []),
        folders=[common["Prefix"] for common in listed.get("CommonPrefixes", [])],
        next_token=listed.get("NextContinuationToken", ""), versioning=_versioning(bucket),
        may_upload=g.api.may("s3:PutObject", _object_arn(bucket, prefix + "*")), **values), 200


@blueprint.get("/s3/<bucket>/versions")
def versions(bucket: str) -> tuple[str, int]:
    """Every version and delete marker under ``prefix`` (ListObjectVersions), one page at a time."""
    prefix = request.args.get("prefix", "")
    params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": PAGE_SIZE}
    for arg, member in (("key", "KeyMarker"), ("version", "VersionIdMarker")):
        if request.args.get(arg):
            params[member] = request.args[arg]
    values: dict[str, Any] = {"bucket": bucket, "prefix": prefix, "crumbs": _crumbs(prefix)}
    try:
        listed = g.api.call("s3", "ListObjectVersions", params)
    except ServiceCallError as refused:
        return render_template("s3_versions.html", error=refused, rows=[], **values), refused.status
    rows = [dict(item, marker=False) for item in listed.get("Versions", [])]
    rows += [dict(item, marker=True) for item in listed.get("DeleteMarkers", [])]
    rows.sort(key=lambda item: (item["Key"], not item.get("IsLatest"), _newest_first(item)))
    more = ({"key": listed.get("NextKeyMarker", ""), "version": listed.get("NextVersionIdMarker", "")}
            if listed.get("IsTruncated") else None)
    return render_template("s3_versions.html", error=None, rows=rows, more=more, **values), 200


@blueprint.post("/s3/<bucket>/upload-url")
def upload_url(bucket: str) -> Response:
    """A presigned PUT for one key: what ``s3_upload.js`` sends the file to."""
    key = request.form.get("key", "")
    if not key or len(key.encode()) > 1024:
        return _json_error("InvalidArgument", "An object key is 1 to 1024 bytes long.", 400)
    return jsonify({"url": _presigned("put_object", {"Bucket": bucket, "Key": key}), "key": key})


@blueprint.get("/s3/<bucket>/download")
def download(bucket: str) -> Response:
    """A redirect to a presigned GET that makes the browser save the object (Content-Disposition)."""
    key = request.args.get("key", "")
    if not key:
        abort(404)
    name = key.rsplit("/", 1)[-1] or "download"
    params = {"Bucket": bucket, "Key": key,
              "ResponseContentDisposition": f"attachment; filename*=UTF-8''{quote(name, safe='')}"}
    if request.args.get("version"):
        params["VersionId"] = request.args["version"]
    return redirect(_presigned("get_object", params), code=303)


@blueprint.route("/s3/<bucket>/policy", methods=["GET", "POST"])
def bucket_policy(bucket: str) -> tuple[str, int]:
    """The bucket policy as the API stores it (JSON text); saving puts it, an empty one deletes it."""
    api = g.api
    error, notice, document = None, "", request.form.get("policy", "")
    if request.method == "POST":
        try:
            if document.strip():
                api.call("s3", "PutBucketPolicy", {"Bucket": bucket, "Policy": document})
                notice = "Bucket policy saved."
            else:
                api.call("s3", "DeleteBucketPolicy", {"Bucket": bucket})
                notice = "Bucket policy deleted."
        except ServiceCallError as refused:
            error = refused
    if request.method == "GET" or notice:
        try:
            document = _pretty_json(api.call("s3", "GetBucketPolicy", {"Bucket": bucket}).get("Policy", ""))
        except ServiceCallError as refused:
            document, error = "", (None if refused.code == "NoSuchBucketPolicy" else refused)
    return render_template("s3_editor.html", bucket=bucket, kind="policy", document=document, error=error,
                           notice=notice), error.status if error else 200


@blueprint.route("/s3/<bucket>/cors", methods=["GET", "POST"])
def bucket_cors(bucket: str) -> tuple[str, int]:
    """The CORS configuration as XML, as PutBucketCors takes it; an empty one deletes it."""
    api = g.api
    error, notice, document = None, "", request.form.get("cors", "")
    if request.method == "POST":
        try:
            if document.strip():
                api.call("s3", "PutBucketCors", {"Bucket": bucket, "CORSConfiguration": _cors_from_xml(document)})
                notice = "CORS configuration saved."
            else:
                api.call("s3", "DeleteBucketCors", {"Bucket": bucket})
                notice = "CORS configuration deleted."
        except ServiceCallError as refused:
            error = refused
    if request.method == "GET" or notice:
        try:
            document = _cors_to_xml(api.call("s3", "GetBucketCors", {"Bucket": bucket}))
        except ServiceCallError as refused:
            document, error = "", (None if refused.code == "NoSuchCORSConfiguration" else refused)
    return render_template("s3_editor.html", bucket=bucket, kind="cors", document=document, error=error,
                           notice=notice), error.status if error else 200


def _presigned(operation: str, params: dict[str, Any]) -> str:
    """A URL signed with the session's temporary credentials, addressed to where the browser is (same origin)."""
    signed_in = g.session.signed_in
    remaining = int((signed_in.expiration - dt.datetime.now(dt.UTC)).total_seconds())
    client = _BOTOCORE.create_client(
        "s3", region_name=cloud().config.region, endpoint_url=request.host_url.rstrip("/"),
        aws_access_key_id=signed_in.access_key_id, aws_secret_access_key=signed_in.secret_access_key,
        aws_session_token=signed_in.session_token,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
    return client.generate_presigned_url(operation, Params=params, ExpiresIn=max(1, min(PRESIGN_SECONDS, remaining)))


def _versioning(bucket: str) -> str:
    """``Enabled``, ``Suspended`` or empty (never enabled, or not readable by the principal)."""
    try:
        return g.api.call("s3", "GetBucketVersioning", {"Bucket": bucket}).get("Status", "")
    except ServiceCallError:
        return ""


def _cors_shape() -> Any:
    return load_service_model("s3").operation_model("PutBucketCors").input_shape.members["CORSConfiguration"]


def _cors_from_xml(document: str) -> dict[str, Any]:
    """The CORSConfiguration structure of the XML a user typed; S3's MalformedXML when it does not fit."""
    try:
        return read_value(_cors_shape(), parse_document(document.encode()))
    except InputError:
        raise ServiceCallError("MalformedXML", MALFORMED_XML, 400) from None


def _cors_to_xml(configuration: dict[str, Any]) -> str:
    """GetBucketCors' answer as the XML document PutBucketCors takes."""
    parts: list[str] = []
    XmlWriter().structure(parts, _cors_shape(), {"CORSRules": configuration.get("CORSRules", [])},
                          "CORSConfiguration")
    return "".join(parts).replace("><", ">\n<")


def _pretty_json(text: str) -> str:
    try:
        return json.dumps(json.loads(text), indent=2)
    except ValueError:
        return text


def _json_error(code: str, message: str, status: int) -> Response:
    response = jsonify({"code": code, "message": message})
    response.status_code = status
    return response


def _crumbs(prefix: str) -> list[tuple[str, str]]:
    """(label, prefix) for each folder level of ``prefix``: the breadcrumb trail."""
    crumbs, so_far = [], ""
    for part in prefix.split("/")[:-1]:
        so_far += part + "/"
        crumbs.append((part, so_far))
    return crumbs


def _object_arn(bucket: str, key: str) -> str:
    return f"arn:{cloud().config.partition}:s3:::{bucket}/{key}"


def _newest_first(item: dict[str, Any]) -> float:
    modified = item.get("LastModified")
    return -modified.timestamp() if modified else 0.0

