"""IAM virtual MFA devices: create (seed and QR code), enable for a user, resync, deactivate, delete, list, tags.

A virtual device is created unassigned, with a random seed returned once (as Base32
text and as a QR code PNG of its ``otpauth://`` URI) and then kept only encrypted.
EnableMFADevice assigns it to a user on proof that the caller holds the seed: two
codes of consecutive 30-second steps. STS then accepts the device's codes in
GetSessionToken and AssumeRole (``controller/sts/mfa.py``), which is what makes
``aws:MultiFactorAuthPresent`` true. The codes themselves are RFC 6238 TOTP
(``mfa_codes``); the errors and their wording are AWS's.

The root user's MFA is managed in AWS's console only: EnableMFADevice requires a
``UserName``, so devices here are enabled for IAM users.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from controller.api import Params, RequestContext
from controller.errors import error
from controller.iam import mfa_codes, state
from controller.iam.directory import USER, Row, arn_of, require, user_output
from controller.iam.errors import (
    DeleteConflict,
    EntityAlreadyExists,
    LimitExceeded,
    NoSuchEntity,
    ValidationError,
)
from controller.iam.mfa_devices import claim_step, devices, require_device, seed_of
from controller.iam.naming import check_path, iam_arn, merge_tags, name_key, paginate, remove_tags
from controller.iam.service import api
from controller.state import utcnow

InvalidAuthenticationCode = error("InvalidAuthenticationCode", 403)

#: MFA devices one IAM user may have enabled at once (IAM quotas).
MAX_DEVICES_PER_USER = 8
#: A serial number (the device's ARN) is at most this long in every call that takes one.
MAX_SERIAL_LENGTH = 256

#: MFA operations that name a user authorize against it (the caller when it names none).
mfa_user_arn = arn_of(USER, caller_when_unnamed=True)


def _new_serial_arn(ctx: RequestContext, params: Params) -> list[str]:
    """CreateVirtualMFADevice authorizes against the serial number (an ARN) the device will have."""
    return [iam_arn(ctx.cloud.config.partition, ctx.account_id, "mfa", params.get("Path") or "/",
                    params["VirtualMFADeviceName"])]


def _serial_arn(ctx: RequestContext, params: Params) -> list[str]:
    """Calls on one device authorize against its serial number, which is its ARN."""
    return [params["SerialNumber"]]


def _device_user(conn: Connection, ctx: RequestContext, params: Params) -> Row | None:
    """The user a call names, or the calling IAM user; None for the root user (who has no IAM user row)."""
    name = params.get("UserName")
    if name is None:
        caller = ctx.principal
        if caller.is_root:
            return None
        if caller.kind != "user":
            raise ValidationError("Must specify userName when calling with non-User credentials")
        name = caller.name
    return require(conn, USER, ctx.account_id, name)


def _assigned_to(conn: Connection, ctx: RequestContext, params: Params) -> tuple[Row | None, Row]:
    """The user and the device a call names; the device must be enabled for that user."""
    user = _device_user(conn, ctx, params)
    device = require_device(conn, ctx.account_id, params["SerialNumber"])
    if user is None or device["user_id"] != user["user_id"]:
        raise NoSuchEntity("MFA Device invalid for user.")
    return user, device


# -- devices --------------------------------------------------------------------------------------
@api.operation("CreateVirtualMFADevice", resources=_new_serial_arn)
def create_virtual_mfa_device(ctx: RequestContext, params: Params) -> Params:
    name, path = params["VirtualMFADeviceName"], check_path(params.get("Path"))
    tags = merge_tags([], params.get("Tags") or [])
    serial = iam_arn(ctx.cloud.config.partition, ctx.account_id, "mfa", path, name)
    if len(serial) > MAX_SERIAL_LENGTH:  # every other MFA call must be able to name the device
        longest = MAX_SERIAL_LENGTH - (len(serial) - len(name))
        raise ValidationError(f"1 validation error detected: Value '{name}' at 'virtualMFADeviceName' failed to "
                              f"satisfy constraint: Member must have length less than or equal to {longest}")
    seed = mfa_codes.new_seed()
    with ctx.cloud.db.begin() as conn:
        taken = conn.execute(select(devices.c.serial_number).where(
            devices.c.account_id == ctx.account_id, devices.c.name_key == name_key(path + name))).first()
        if taken is not None:
            raise EntityAlreadyExists("MFADevice entity at the same path and name already exists.")
        conn.execute(insert(devices).values(
            serial_number=serial, account_id=ctx.account_id, device_name=name, name_key=name_key(path + name),
            path=path, seed_encrypted=ctx.cloud.secrets.encrypt(seed), user_id=None, enabled_at=None,
            last_step=None, drift_steps=0, created_at=utcnow(), tags=tags))
    ctx.audit_resources.append(serial)
    qr_code = mfa_codes.qr_code_png(mfa_codes.provisioning_uri(seed, name, ctx.account_id))
    device: dict[str, Any] = {"SerialNumber": serial, "Base32StringSeed": seed.encode("ascii"),
                              "QRCodePNG": qr_code}
    if tags:
        device["Tags"] = tags
    return {"VirtualMFADevice": device}


@api.operation("EnableMFADevice", resources=mfa_user_arn)
def enable_mfa_device(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.begin() as conn:
        user = require(conn, USER, ctx.account_id, params["UserName"])
        device = require_device(conn, ctx.account_id, params["SerialNumber"])
        if device["user_id"] is not None:
            raise EntityAlreadyExists("MFA Device is already in use.")
        enabled = conn.execute(select(func.count()).select_from(devices).where(
            devices.c.user_id == user["user_id"])).scalar_one()
        if enabled >= MAX_DEVICES_PER_USER:
            raise LimitExceeded(f"Cannot exceed quota for MFADevicesPerUser: {MAX_DEVICES_PER_USER}.")
        step = mfa_codes.consecutive_step(seed_of(ctx.cloud, device), params["AuthenticationCode1"],
                                          params["AuthenticationCode2"], mfa_codes.time_step(ctx.received_at),
                                          after=device["last_step"])
        if step is None or not claim_step(conn, device["serial_number"], step, user_id=user["user_id"],
                                          enabled_at=ctx.received_at, drift_steps=0):
            raise InvalidAuthenticationCode("Authentication code for device is not valid.")
    ctx.audit_resources.append(device["serial_number"])
    return {}


@api.operation("ResyncMFADevice", resources=mfa_user_arn)
def resync_mfa_device(ctx: RequestContext, params: Params) -> Params:
    """Measure how far the device's clock is off from two consecutive codes it shows now."""
    with ctx.cloud.db.begin() as conn:
        _, device = _assigned_to(conn, ctx, params)
        now_step = mfa_codes.time_step(ctx.received_at)
        step = mfa_codes.consecutive_step(seed_of(ctx.cloud, device), params["AuthenticationCode1"],
                                          params["AuthenticationCode2"], now_step, after=device["last_step"],
                                          window=mfa_codes.RESYNC_WINDOW_STEPS)
        if step is None or not claim_step(conn, device["serial_number"], step, drift_steps=step - now_step):
            raise InvalidAuthenticationCode("Authentication code for device is not valid.")
    return {}


@api.operation("DeactivateMFADevice", resources=mfa_user_arn)
def deactivate_mfa_device(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.begin() as conn:
        _, device = _assigned_to(conn, ctx, params)
        # last_step stays: a code spent before deactivation is not accepted again after a re-enable
        conn.execute(update(devices).where(devices.c.serial_number == device["serial_number"]).values(
            user_id=None, enabled_at=None, drift_steps=0))
    ctx.audit_resources.append(device["serial_number"])
    return {}


@api.operation("DeleteVirtualMFADevice", resources=_serial_arn)
def delete_virtual_mfa_device(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.begin() as conn:
        device = require_device(conn, ctx.account_id, params["SerialNumber"])
        if device["user_id"] is not None:
            raise DeleteConflict("MFA device is still in use.")
        conn.execute(delete(devices).where(devices.c.serial_number == device["serial_number"]))
    ctx.audit_resources.append(device["serial_number"])
    return {}


# -- reading --------------------------------------------------------------------------------------
def _mfa_device_output(device: Row, user_name: str) -> dict[str, Any]:
    return {"UserName": user_name, "SerialNumber": device["serial_number"], "EnableDate": device["enabled_at"]}


@api.operation("ListMFADevices", resources=mfa_user_arn)
def list_mfa_devices(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        user = _device_user(conn, ctx, params)
        if user is None:  # the root user: its MFA lives in AWS's console
            return {"MFADevices": [], "IsTruncated": False}
        rows = conn.execute(select(devices).where(devices.c.user_id == user["user_id"])).mappings().all()
    result = paginate(list(rows), params, lambda row: row["serial_number"], "MFADevices")
    result["MFADevices"] = [_mfa_device_output(row, user["user_name"]) for row in result["MFADevices"]]
    return result


@api.operation("GetMFADevice", resources=mfa_user_arn)
def get_mfa_device(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        user, device = _assigned_to(conn, ctx, params)
    return _mfa_device_output(device, user["user_name"] if user else "")


@api.operation("ListVirtualMFADevices")
def list_virtual_mfa_devices(ctx: RequestContext, params: Params) -> Params:
    """Every virtual device of the account, with its user when assigned (never its seed nor its tags)."""
    status = params.get("AssignmentStatus") or "Any"
    query = select(devices).where(devices.c.account_id == ctx.account_id)
    if status == "Assigned":
        query = query.where(devices.c.user_id.is_not(None))
    elif status == "Unassigned":
        query = query.where(devices.c.user_id.is_(None))
    with ctx.cloud.db.read() as conn:
        result = paginate(list(conn.execute(query).mappings().all()), params, lambda row: row["serial_number"],
                          "VirtualMFADevices")
        user_ids = {row["user_id"] for row in result["VirtualMFADevices"] if row["user_id"]}
        users = {user["user_id"]: user for user in conn.execute(
            select(state.users).where(state.users.c.user_id.in_(user_ids))).mappings()}
    result["VirtualMFADevices"] = [_virtual_device_output(row, users.get(row["user_id"]))
                                   for row in result["VirtualMFADevices"]]
    return result


def _virtual_device_output(device: Row, user: Row | None) -> dict[str, Any]:
    output: dict[str, Any] = {"SerialNumber": device["serial_number"]}
    if user is not None:
        output["User"] = user_output(user)
        output["EnableDate"] = device["enabled_at"]
    return output


# -- tags -----------------------------------------------------------------------------------------
@api.operation("TagMFADevice", resources=_serial_arn)
def tag_mfa_device(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.begin() as conn:
        device = require_device(conn, ctx.account_id, params["SerialNumber"])
        conn.execute(update(devices).where(devices.c.serial_number == device["serial_number"]).values(
            tags=merge_tags(device["tags"], params["Tags"])))
    return {}


@api.operation("UntagMFADevice", resources=_serial_arn)
def untag_mfa_device(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.begin() as conn:
        device = require_device(conn, ctx.account_id, params["SerialNumber"])
        conn.execute(update(devices).where(devices.c.serial_number == device["serial_number"]).values(
            tags=remove_tags(device["tags"], params["TagKeys"])))
    return {}


@api.operation("ListMFADeviceTags", resources=_serial_arn)
def list_mfa_device_tags(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        device = require_device(conn, ctx.account_id, params["SerialNumber"])
    return paginate(device["tags"], params, lambda tag: tag["Key"], "Tags")
