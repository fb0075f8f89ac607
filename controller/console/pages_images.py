"""EC2 AMIs and key pairs in the console (issue 19): lists, deregistration, and key pairs made, imported and
deleted through the API as the signed-in principal.

The AMIs page is one DescribeImages page of the caller's own images and the cloud's built-in ones (owner
alias ``amazon``), so a user sees what they can launch without the thousands of images others shared.
Creating a key pair answers the form's POST with the private key itself, as a download: CreateKeyPair is the
only moment the key exists outside the user's hands (the controller keeps only the public half), so the
console hands it over once, marked ``no-store``, and never shows or keeps it. Like the other pages, buttons are
disabled where IAM would deny them and a refusal is shown with AWS's code and message.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Response, abort, g, redirect, render_template, request, url_for

from controller.console.app import blueprint
from controller.console.calls import PAGE_SIZE, ServiceCallError
from controller.console.pages_services import arn_prefix, button, notice, paged

IMAGE_ID = re.compile(r"^ami-[0-9a-f]{8,17}$")
KEY_PAIR_ID = re.compile(r"^key-[0-9a-f]{8,17}$")
#: A key name as a notice repeats it: what a name may hold (up to 255 ASCII characters), printable only.
KEY_NAME = re.compile(r"^[\x20-\x7e]{1,255}$")
#: CreateKeyPair's KeyType and KeyFormat values, the API's default first.
KEY_TYPES = ("rsa", "ed25519")
KEY_FORMATS = ("pem", "ppk")
#: The file name's characters kept as they are; any other becomes ``_`` (the name goes into a header).
UNSAFE_IN_FILE_NAME = re.compile(r"[^A-Za-z0-9._-]")


def download_name(key_name: str, key_format: str) -> str:
    """The private key file's name: the key's name with the format's extension, as AWS's console names it,
    with any character a header or a file system could misread replaced (a key name may hold quotes and
    slashes); a name of dots alone would be a directory, so it gets a prefix."""
    stem = UNSAFE_IN_FILE_NAME.sub("_", key_name).strip(".") or "key"
    return f"{stem}.{'ppk' if key_format == 'ppk' else 'pem'}"


def owner_of(image: dict[str, Any]) -> str:
    """What the Owner column shows: the alias (``amazon`` for the built-in images) or the account id."""
    return image.get("ImageOwnerAlias") or image.get("OwnerId", "")


# --- AMIs ------------------------------------------------------------------------------------------------------


@blueprint.get("/ec2/images")
def ec2_images() -> tuple[str, int]:
    return _images_page()


@blueprint.post("/ec2/images/<image_id>/deregister")
def ec2_image_deregister(image_id: str) -> Response | tuple[str, int]:
    if not IMAGE_ID.match(image_id):
        abort(404)
    try:
        g.api.call("ec2", "DeregisterImage", {"ImageId": image_id})
    except ServiceCallError as refused:
        return _images_page(refused)
    return redirect(url_for("console.ec2_images", done="deregister", name=image_id), code=303)


def _images_page(error: ServiceCallError | None = None) -> tuple[str, int]:
    """One page of the caller's and the built-in images (one DescribeImages call)."""
    params, this_token = paged({"Owners": ["self", "amazon"], "MaxResults": PAGE_SIZE})
    account = g.api.principal.account_id
    prefix = arn_prefix("ec2")
    values: dict[str, Any] = {"error": error, "this_token": this_token, "images": [], "next_token": "",
                              "notice": notice({"deregister": "Deregistered {}.".format}, IMAGE_ID),
                              "may_launch": g.api.may("ec2:RunInstances", prefix + "instance/*")}
    try:
        answer = g.api.call("ec2", "DescribeImages", params)
    except ServiceCallError as refused:
        return render_template("ec2_images.html", list_error=refused, **values), refused.status
    for image in answer.get("Images", []):
        owned = image.get("OwnerId") == account
        values["images"].append({
            **image, "owner": owner_of(image),
            "deregister": button("ec2:DeregisterImage", prefix + "image/" + image["ImageId"], "image", owned,
                                 "Only the image's owner can deregister it."),
        })
    values["next_token"] = answer.get("NextToken", "")
    return render_template("ec2_images.html", list_error=None, **values), error.status if error else 200


# --- key pairs ---------------------------------------------------------------------------------------------------


@blueprint.get("/ec2/key-pairs")
def ec2_key_pairs() -> tuple[str, int]:
    return _key_pairs_page()


@blueprint.post("/ec2/key-pairs/create")
def ec2_key_pair_create() -> Response | tuple[str, int]:
    """CreateKeyPair, answered with the private key as a file (never a page that shows it, nor a redirect
    that would need it stored until the next request)."""
    form = request.form
    name, key_format = form.get("name", "").strip(), form.get("key_format", "pem")
    params = {"KeyName": name, "KeyType": form.get("key_type", "rsa"), "KeyFormat": key_format}
    try:
        created = g.api.call("ec2", "CreateKeyPair", params)
    except ServiceCallError as refused:
        return _key_pairs_page(refused)
    filename = download_name(created["KeyName"], key_format)
    return Response(created["KeyMaterial"], mimetype="application/x-pem-file", headers={
        "Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})


@blueprint.post("/ec2/key-pairs/import")
def ec2_key_pair_import() -> Response | tuple[str, int]:
    name = request.form.get("name", "").strip()
    params = {"KeyName": name, "PublicKeyMaterial": request.form.get("public_key", "").strip().encode()}
    try:
        g.api.call("ec2", "ImportKeyPair", params)
    except ServiceCallError as refused:
        return _key_pairs_page(refused)
    return redirect(url_for("console.ec2_key_pairs", done="import", name=name), code=303)


@blueprint.post("/ec2/key-pairs/<key_pair_id>/delete")
def ec2_key_pair_delete(key_pair_id: str) -> Response | tuple[str, int]:
    if not KEY_PAIR_ID.match(key_pair_id):
        abort(404)
    try:
        g.api.call("ec2", "DeleteKeyPair", {"KeyPairId": key_pair_id})
    except ServiceCallError as refused:
        return _key_pairs_page(refused)
    return redirect(url_for("console.ec2_key_pairs", done="delete", name=key_pair_id), code=303)


def _key_pairs_page(error: ServiceCallError | None = None) -> tuple[str, int]:
    """All the caller's key pairs (DescribeKeyPairs has no paging in AWS's API: an account holds few)."""
    prefix = arn_prefix("ec2") + "key-pair/"
    values: dict[str, Any] = {
        "error": error, "key_pairs": [], "key_types": KEY_TYPES, "key_formats": KEY_FORMATS,
        "notice": notice({"import": "Imported the key pair {}.".format,
                          "delete": "Deleted the key pair {}.".format}, KEY_NAME),
        "may_create": button("ec2:CreateKeyPair", prefix + "*", "account"),
        "may_import": button("ec2:ImportKeyPair", prefix + "*", "account"),
    }
    try:
        answer = g.api.call("ec2", "DescribeKeyPairs", {})
    except ServiceCallError as refused:
        return render_template("ec2_key_pairs.html", list_error=refused, **values), refused.status
    for pair in answer.get("KeyPairs", []):
        created = pair.get("CreateTime")
        values["key_pairs"].append({
            **pair, "created": created.strftime("%Y-%m-%d %H:%M UTC") if created else "",
            "delete": button("ec2:DeleteKeyPair", prefix + pair["KeyPairId"], "key pair"),
        })
    return render_template("ec2_key_pairs.html", list_error=None, **values), error.status if error else 200
