"""AMIs: RegisterImage, CreateImage, DeregisterImage, DescribeImages, launch permissions, built-in images.

Who may see and launch an image: its owner; every account when it is public; the accounts named in its
launch permissions. Any other account is told the id does not exist (DescribeImages) or, when it tries
to launch it, ``AuthFailure: Not authorized for images`` as EC2 does for private AMIs of others.

Root device types, as in EC2: an *ebs*-backed image gives each instance a persistent root volume (kept
across stop/start, deleted at termination unless DeleteOnTermination says otherwise); an
*instance-store* image gives a root disk that lives and dies with the instance, which therefore cannot
be stopped. RegisterImage makes an ebs-backed image when its BlockDeviceMappings name the root device
with ``Ebs`` (the image's disk becomes the root snapshot, so ``ImageLocation`` + an ``Ebs`` root mapping
is Cloudlet's way to import a disk as an EBS snapshot) or when it registers an existing snapshot
(``SnapshotId`` of another image's root); an ``ImageLocation`` alone gives an instance-store image.

The images the cloud itself provides (images/ builds them; see :func:`register_builtin_images`, run at start) are public,
owned by the management account and carry the owner alias ``amazon``, so ``--owners amazon`` lists them.
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sqlalchemy import Connection, RowMapping, delete, insert, select, update

from controller.api import Params, RequestContext
from controller.ec2.describe import describe, listing
from controller.ec2.errors import InvalidParameterValue, MissingParameter, invalid_value, require
from controller.ec2.ids import IMAGE, INSTANCE, new_id
from controller.ec2.instances import image_store, lifecycle
from controller.ec2.instances import state as instance_state
from controller.ec2.instances.image_filters import IMAGE_FILTERS
from controller.ec2.operation import NEW, arns, vpc_operation
from controller.ec2.service import api
from controller.ec2.tags import drop_tags, owned_by_account, register_taggable, tag_new_resource, tags_of
from controller.ec2.volumes import records as volume_records
from controller.ec2.vpc.state import write
from controller.errors import ServiceError, error
from controller.state import Database, utcnow

if TYPE_CHECKING:
    from controller.cloud import Cloud

log = logging.getLogger(__name__)

register_taggable(IMAGE, owned_by_account(instance_state.images, "image_id"))

AuthFailure = error("AuthFailure", 401)
InvalidAMINameDuplicate = error("InvalidAMIName.Duplicate")
InvalidAMINameMalformed = error("InvalidAMIName.Malformed")
InvalidAMIIDUnavailable = error("InvalidAMIID.Unavailable")
InvalidAMIAttributeItemValue = error("InvalidAMIAttributeItemValue")
InvalidSnapshotNotFound = error("InvalidSnapshot.NotFound")
UnsupportedOperation = error("UnsupportedOperation")

NAME = re.compile(r"^[A-Za-z0-9()\[\] ./\-'@_]{3,128}$")
ACCOUNT_ID = re.compile(r"^\d{12}$")
DEFAULT_ROOT_DEVICE = "/dev/xvda"
GIB = 1 << 30
AMAZON = "amazon"


# --- visibility ---------------------------------------------------------------------------------------------


def _permitted(conn: Connection, account: str) -> set[str]:
    table = instance_state.image_launch_permissions
    return {r[0] for r in conn.execute(select(table.c.image_id).where(table.c.account_id == account))}


def visible_images(conn: Connection, account: str) -> list[RowMapping]:
    """Images the account may see and launch: its own, public ones, and ones shared with it."""
    table = instance_state.images
    shared = _permitted(conn, account)
    rows = conn.execute(select(table).where(table.c.state != "deregistered")).mappings().all()
    return [r for r in rows if r["account_id"] == account or r["public"] or r["image_id"] in shared]


def launchable_image(conn: Connection, account: str, image_id: str | None) -> RowMapping:
    """The image RunInstances may use, or EC2's error: NotFound for unknown ids, AuthFailure for others'
    private images, Unavailable while it is being made or after it failed."""
    if not image_id:
        raise MissingParameter("The request must contain the parameter ImageId")
    table = instance_state.images
    row = conn.execute(select(table).where(table.c.image_id == image_id)).mappings().first()
    if row is None or row["state"] == "deregistered":
        raise IMAGE.missing([image_id])
    if not (row["account_id"] == account or row["public"] or image_id in _permitted(conn, account)):
        raise AuthFailure(f"Not authorized for images: [{image_id}]")
    if row["state"] != "available":
        raise InvalidAMIIDUnavailable(f"AMI '{image_id}' is {row['state']} and cannot be run.")
    return row


def _owned(conn: Connection, account: str, image_id: str | None) -> RowMapping:
    """An image the caller owns (attribute changes, deregistration); others' visible ones are AuthFailure."""
    if not image_id:
        raise MissingParameter("The request must contain the parameter ImageId")
    table = instance_state.images
    row = conn.execute(select(table).where(table.c.image_id == image_id)).mappings().first()
    if row is None or row["state"] == "deregistered" or not (
            row["account_id"] == account or row["public"] or image_id in _permitted(conn, account)):
        raise IMAGE.missing([image_id])
    if row["account_id"] != account:
        raise AuthFailure(f"Not authorized for image:{image_id}")
    return row


# --- output -------------------------------------------------------------------------------------------------------


def _iso(value: Any) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _block_device_mappings(row: RowMapping) -> list[Params]:
    if row["root_device_type"] != "ebs":
        return []
    return [{"DeviceName": row["root_device_name"],
             "Ebs": {"DeleteOnTermination": True, "SnapshotId": row["root_snapshot_id"],
                     "VolumeSize": row["root_size_gib"], "VolumeType": "gp3", "Encrypted": False}}]


def image_output(row: RowMapping, tags: list[dict[str, str]]) -> Params:
    output: Params = {
        "ImageId": row["image_id"], "ImageLocation": row["image_location"] or f"{row['account_id']}/{row['name']}",
        "State": row["state"], "OwnerId": row["account_id"], "CreationDate": _iso(row["created_at"]),
        "Public": row["public"], "Architecture": row["architecture"], "ImageType": "machine", "Name": row["name"],
        "RootDeviceType": row["root_device_type"], "RootDeviceName": row["root_device_name"],
        "BlockDeviceMappings": _block_device_mappings(row), "VirtualizationType": "hvm", "Hypervisor": "xen",
        "EnaSupport": row["ena_support"], "PlatformDetails": "Linux/UNIX", "UsageOperation": "RunInstances",
        "BootMode": "legacy-bios", "Tags": tags,
    }
    if row["description"]:
        output["Description"] = row["description"]
    if row["owner_alias"]:
        output["ImageOwnerAlias"] = row["owner_alias"]
    if row["source_instance_id"]:
        output["SourceInstanceId"] = row["source_instance_id"]
    if row["state"] == "failed" and row["state_reason"]:
        output["StateReason"] = {"Code": "Client.InternalError", "Message": row["state_reason"]}
    return output



# --- registration ---------------------------------------------------------------------------------------------


def _check_name(name: str | None) -> str:
    if not name:
        raise MissingParameter("The request must contain the parameter name")
    if not NAME.match(name):
        raise InvalidAMINameMalformed("AMI names must be between 3 and 128 characters long, and may contain letters, "
                                      "numbers, '(', ')', '.', '-', '/', '_', '[', ']', ' ', '@' and \"'\"")
    return name


def _check_free_name(conn: Connection, account: str, name: str) -> None:
    table = instance_state.images
    holder = conn.execute(select(table.c.image_id).where(table.c.account_id == account, table.c.name == name,
                                                         table.c.state != "deregistered")).scalar()
    if holder:
        raise InvalidAMINameDuplicate(f"AMI name {name} is already in use by AMI {holder}")


def _insert_image(conn: Connection, image_id: str, account: str, name: str, content: image_store.ImageContent, *,
                  root_device_type: str, root_device_name: str, root_size_gib: int | None, public: bool = False,
                  owner_alias: str | None = None, description: str | None = None, location: str | None = None,
                  architecture: str | None = None, state: str = "available", source_instance_id: str | None = None,
                  ena_support: bool = True) -> None:
    _check_free_name(conn, account, name)
    virtual_gib = math.ceil(content.root_virtual_size / GIB) if content.files else 1
    conn.execute(insert(instance_state.images).values(
        image_id=image_id, account_id=account, owner_alias=owner_alias, name=name,
        description=description if description is not None else content.description, state=state,
        architecture=architecture or content.architecture, root_device_type=root_device_type,
        root_device_name=root_device_name,
        root_snapshot_id=new_id("snap") if root_device_type == "ebs" else None,
        root_size_gib=max(virtual_gib, root_size_gib or 0), boot_mode=content.boot_mode, cmdline=content.cmdline,
        files=content.files, image_location=location, source_instance_id=source_instance_id, ena_support=ena_support,
        public=public, created_at=utcnow()))


def _root_mapping(params: Params, root_device_name: str) -> Params | None:
    for mapping in params.get("BlockDeviceMappings") or []:
        if mapping.get("DeviceName") == root_device_name and mapping.get("Ebs") is not None:
            return mapping["Ebs"]
    return None


def _import(ctx: RequestContext, params: Params, image_id: str, root: Params | None) -> image_store.ImageContent:
    """The new image's files, from its ImageLocation or from the root snapshot its mapping names."""
    target = image_store.image_dir(ctx.cloud.config, image_id)
    location = params.get("ImageLocation")
    if location:
        if location.startswith(("file://", "/")):
            if ctx.account_id != ctx.cloud.credentials.management_account():
                raise InvalidParameterValue("Only the management account may register images from a local path.")
            return image_store.import_local(Path(location.removeprefix("file://")), target)
        bucket, _, key = location.removeprefix("s3://").partition("/")
        if not bucket or not key:
            raise invalid_value(location, "ImageLocation", "Expected s3://bucket/key or bucket/key.")
        return image_store.import_s3(ctx, bucket, key, target)
    snapshot_id = (root or {}).get("SnapshotId")
    if not snapshot_id:
        raise MissingParameter("The request must contain the parameter ImageLocation or a root device "
                               "BlockDeviceMapping with a SnapshotId")
    table = instance_state.images
    with ctx.cloud.db.read() as conn:
        source = conn.execute(select(table).where(table.c.root_snapshot_id == snapshot_id,
                                                  table.c.account_id == ctx.account_id)).mappings().first()
    if source is None or source["state"] != "available":
        raise InvalidSnapshotNotFound(f"The snapshot '{snapshot_id}' does not exist.")
    source_dir = image_store.image_dir(ctx.cloud.config, source["image_id"])
    files = image_store.copy_files_from(source_dir, source["files"], source["files"].keys(), target)
    return image_store.ImageContent(boot_mode=source["boot_mode"], cmdline=source["cmdline"],
                                    architecture=source["architecture"], files=files)


@vpc_operation("RegisterImage", resources=arns((IMAGE, NEW)))
def register_image(ctx: RequestContext, params: Params) -> Params:
    name = _check_name(params.get("Name"))
    if (params.get("VirtualizationType") or "hvm") != "hvm":
        raise invalid_value(params["VirtualizationType"], "VirtualizationType", "Only hvm images are supported.")
    architecture = params.get("Architecture") or "x86_64"
    if architecture not in ("x86_64", "arm64", "i386"):
        raise invalid_value(architecture, "Architecture")
    root_device_name = params.get("RootDeviceName") or DEFAULT_ROOT_DEVICE
    root = _root_mapping(params, root_device_name)
    with ctx.cloud.db.read() as conn:
        _check_free_name(conn, ctx.account_id, name)
    image_id = IMAGE.new_id()
    try:
        content = _import(ctx, params, image_id, root)
        with write(ctx.cloud.db) as conn:
            _insert_image(conn, image_id, ctx.account_id, name, content,
                          root_device_type="ebs" if root is not None else "instance-store",
                          root_device_name=root_device_name, root_size_gib=(root or {}).get("VolumeSize"),
                          description=params.get("Description"), location=params.get("ImageLocation"),
                          architecture=params.get("Architecture"), ena_support=params.get("EnaSupport", True))
            tag_new_resource(conn, ctx.account_id, IMAGE, image_id, params.get("TagSpecifications"))
    except BaseException:
        image_store.remove(ctx.cloud.config, image_id)
        raise
    ctx.audit_resources.append(IMAGE.arn(ctx, image_id))
    return {"ImageId": image_id}


@vpc_operation("DeregisterImage", resources=arns((IMAGE, "ImageId")))
def deregister_image(ctx: RequestContext, params: Params) -> Params:
    table = instance_state.images
    with write(ctx.cloud.db) as conn:
        row = _owned(conn, ctx.account_id, params.get("ImageId"))
        conn.execute(update(table).where(table.c.image_id == row["image_id"]).values(
            state="deregistered", deregistered_at=utcnow()))
        conn.execute(delete(instance_state.image_launch_permissions)
                     .where(instance_state.image_launch_permissions.c.image_id == row["image_id"]))
        drop_tags(conn, [row["image_id"]])
    collect_image_files(ctx.cloud, [row["image_id"]])
    return {"Return": True}


def collect_image_files(cloud: Cloud, image_ids: list[str]) -> None:
    """Delete the stored files of deregistered images no instance uses any more (a stopped instance
    might be re-created on a host that never cached its image)."""
    images, instances = instance_state.images, instance_state.instances
    with cloud.db.read() as conn:
        gone = [r[0] for r in conn.execute(select(images.c.image_id).where(
            images.c.image_id.in_(image_ids), images.c.state == "deregistered"))]
        used = {r[0] for r in conn.execute(select(instances.c.image_id).where(
            instances.c.image_id.in_(gone), instances.c.state != lifecycle.TERMINATED))}
    for image_id in gone:
        if image_id not in used:
            image_store.remove(cloud.config, image_id)


# --- DescribeImages ------------------------------------------------------------------------------------------------


@vpc_operation("DescribeImages", resources=arns((IMAGE, "ImageIds")))
def describe_images(ctx: RequestContext, params: Params) -> Params:
    account = ctx.account_id
    with ctx.cloud.db.read() as conn:
        rows = visible_images(conn, account)
        shared = _permitted(conn, account)
        tags = tags_of(conn, account, [r["image_id"] for r in rows])
    owners = params.get("Owners") or []
    if owners:
        wanted = {account if o == "self" else o for o in owners}
        rows = [r for r in rows if r["account_id"] in wanted or r["owner_alias"] in wanted]
    users = params.get("ExecutableUsers") or []
    if users:
        rows = [r for r in rows if ("all" in users and r["public"])
                or ("self" in users or account in users) and (r["image_id"] in shared or r["account_id"] == account)]
    items = [image_output(r, tags[r["image_id"]]) for r in rows]
    listed, token = describe(items, params, key="ImageId", ids_param="ImageIds", kind=IMAGE, fields=IMAGE_FILTERS,
                             page_limits=(1, 1000))
    return listing("Images", listed, token)


# --- attributes -------------------------------------------------------------------------------------------------


def _permission_changes(params: Params) -> tuple[list[Params], list[Params]]:
    """(added, removed) launch permissions from either form ModifyImageAttribute accepts."""
    permission = params.get("LaunchPermission") or {}
    added, removed = list(permission.get("Add") or []), list(permission.get("Remove") or [])
    operation = params.get("OperationType")
    flat = [{"UserId": u} for u in params.get("UserIds") or []] + [{"Group": g} for g in params.get("UserGroups") or []]
    if flat:
        if operation not in ("add", "remove"):
            raise MissingParameter("The request must contain the parameter operationType")
        (added if operation == "add" else removed).extend(flat)
    for item in added + removed:
        if item.get("Group") not in (None, "all"):
            raise InvalidAMIAttributeItemValue(f"Invalid attribute item value \"{item['Group']}\" for group item type.")
        if item.get("UserId") is not None and not ACCOUNT_ID.match(str(item["UserId"])):
            raise InvalidAMIAttributeItemValue(f"Invalid attribute item value \"{item['UserId']}\" for userId item "
                                               "type.")
        if item.get("OrganizationArn") or item.get("OrganizationalUnitArn"):
            raise InvalidParameterValue("Sharing with organizations is not supported here: name the accounts.")
    return added, removed


@vpc_operation("ModifyImageAttribute", resources=arns((IMAGE, "ImageId")))
def modify_image_attribute(ctx: RequestContext, params: Params) -> Params:
    images, permissions = instance_state.images, instance_state.image_launch_permissions
    attribute = params.get("Attribute")
    description = (params.get("Description") or {}).get("Value")
    if attribute == "description" and description is None:
        description = params.get("Value")
    with write(ctx.cloud.db) as conn:
        row = _owned(conn, ctx.account_id, params.get("ImageId"))
        image_id = row["image_id"]
        if description is not None:
            conn.execute(update(images).where(images.c.image_id == image_id).values(description=description))
            return {}
        if attribute not in (None, "launchPermission"):
            raise invalid_value(attribute, "Attribute")
        added, removed = _permission_changes(params)
        if not added and not removed:
            raise MissingParameter("The request must contain the parameter launchPermission")
        for item in added:
            if item.get("Group") == "all":
                conn.execute(update(images).where(images.c.image_id == image_id).values(public=True))
            elif item.get("UserId") and item["UserId"] != ctx.account_id:
                conn.execute(delete(permissions).where(permissions.c.image_id == image_id,
                                                       permissions.c.account_id == item["UserId"]))
                conn.execute(insert(permissions).values(image_id=image_id, account_id=item["UserId"]))
        for item in removed:
            if item.get("Group") == "all":
                conn.execute(update(images).where(images.c.image_id == image_id).values(public=False))
            elif item.get("UserId"):
                conn.execute(delete(permissions).where(permissions.c.image_id == image_id,
                                                       permissions.c.account_id == item["UserId"]))
    return {}


@vpc_operation("DescribeImageAttribute", resources=arns((IMAGE, "ImageId")))
def describe_image_attribute(ctx: RequestContext, params: Params) -> Params:
    require(params, "Attribute")
    attribute = params["Attribute"]
    permissions = instance_state.image_launch_permissions
    with ctx.cloud.db.read() as conn:
        row = _owned(conn, ctx.account_id, params.get("ImageId"))
        granted = [r[0] for r in conn.execute(select(permissions.c.account_id)
                                              .where(permissions.c.image_id == row["image_id"])
                                              .order_by(permissions.c.account_id))]
    result: Params = {"ImageId": row["image_id"]}
    if attribute == "launchPermission":
        result["LaunchPermissions"] = ([{"Group": "all"}] if row["public"] else []) + \
            [{"UserId": account} for account in granted]
    elif attribute == "description":
        result["Description"] = {"Value": row["description"]} if row["description"] else {}
    elif attribute == "blockDeviceMapping":
        result["BlockDeviceMappings"] = _block_device_mappings(row)
    elif attribute == "bootMode":
        result["BootMode"] = {"Value": "legacy-bios"}
    elif attribute == "lastLaunchedTime":
        result["LastLaunchedTime"] = {"Value": _iso(row["last_launched_at"])} if row["last_launched_at"] else {}
    elif attribute in ("kernel", "ramdisk", "productCodes", "sriovNetSupport"):
        result[{"kernel": "KernelId", "ramdisk": "RamdiskId", "productCodes": "ProductCodes",
                "sriovNetSupport": "SriovNetSupport"}[attribute]] = [] if attribute == "productCodes" else {}
    else:
        raise invalid_value(attribute, "Attribute")
    return result


@vpc_operation("ResetImageAttribute", resources=arns((IMAGE, "ImageId")))
def reset_image_attribute(ctx: RequestContext, params: Params) -> Params:
    if params.get("Attribute") != "launchPermission":
        raise invalid_value(params.get("Attribute"), "Attribute")
    images, permissions = instance_state.images, instance_state.image_launch_permissions
    with write(ctx.cloud.db) as conn:
        row = _owned(conn, ctx.account_id, params.get("ImageId"))
        conn.execute(update(images).where(images.c.image_id == row["image_id"]).values(public=False))
        conn.execute(delete(permissions).where(permissions.c.image_id == row["image_id"]))
    return {}


# --- CreateImage: an agent copies the root volume and uploads it --------------------------------------------------


@vpc_operation("CreateImage", resources=arns((IMAGE, NEW)))
def create_image(ctx: RequestContext, params: Params) -> Params:
    name = _check_name(params.get("Name"))
    require(params, "InstanceId")
    instances = instance_state.instances
    image_id = IMAGE.new_id()
    with write(ctx.cloud.db) as conn:
        instance = conn.execute(select(instances).where(instances.c.instance_id == params["InstanceId"],
                                                        instances.c.account_id == ctx.account_id)).mappings().first()
        if instance is None or instance["state"] == lifecycle.TERMINATED:
            raise INSTANCE.missing([params["InstanceId"]])
        if instance["root_device_type"] != "ebs":
            raise UnsupportedOperation(f"The instance '{instance['instance_id']}' does not have an 'ebs' root device "
                                       "type: only EBS-backed instances can be imaged.")
        if instance["state"] not in (lifecycle.RUNNING, lifecycle.STOPPED):
            raise lifecycle.IncorrectInstanceState(
                f"The instance '{instance['instance_id']}' is not in a state from which it can be imaged.")
        source = conn.execute(select(instance_state.images).where(
            instance_state.images.c.image_id == instance["image_id"])).mappings().one()
        content = image_store.ImageContent(boot_mode=source["boot_mode"], cmdline=source["cmdline"],
                                           architecture=instance["architecture"])
        root_size = volume_records.root_size(conn, instance["instance_id"])
        _insert_image(conn, image_id, ctx.account_id, name, content, root_device_type="ebs",
                      root_device_name=instance["root_device_name"], root_size_gib=root_size,
                      description=params.get("Description") or "", state="pending",
                      source_instance_id=instance["instance_id"])
        conn.execute(insert(instance_state.image_captures).values(
            image_id=image_id, instance_id=instance["instance_id"], no_reboot=bool(params.get("NoReboot")),
            requested_at=utcnow()))
        tag_new_resource(conn, ctx.account_id, IMAGE, image_id,
                         [s for s in params.get("TagSpecifications") or [] if s.get("ResourceType") != "snapshot"])
    ctx.audit_resources.append(IMAGE.arn(ctx, image_id))
    return {"ImageId": image_id}


def complete_capture(cloud: Cloud, image_id: str, stream: IO[bytes]) -> None:
    """Store the root disk an agent uploaded for a pending CreateImage, and make the image available."""
    images, captures = instance_state.images, instance_state.image_captures
    with cloud.db.read() as conn:
        row = conn.execute(select(images).where(images.c.image_id == image_id)).mappings().first()
        pending = conn.execute(select(captures).where(captures.c.image_id == image_id)).first()
    if row is None or pending is None or row["state"] != "pending":
        raise ServiceError(f"no pending capture for {image_id}", code="NotFound", status=404)
    with cloud.db.read() as conn:
        source = conn.execute(select(images).join(
            instance_state.instances, instance_state.instances.c.image_id == images.c.image_id).where(
            instance_state.instances.c.instance_id == row["source_instance_id"])).mappings().one()
    target = image_store.image_dir(cloud.config, image_id)
    try:
        files = image_store.copy_files_from(image_store.image_dir(cloud.config, source["image_id"]), source["files"],
                                            ("kernel", "initrd"), target)
        staged = target / ".root-staged"
        staged_record = image_store.copy_hashed(image_store.stream_chunks(stream), staged)
        files["root_disk"] = image_store.store_root_disk(staged, target, staged_record)
        staged.unlink(missing_ok=True)
    except (OSError, ServiceError) as exc:
        image_store.remove(cloud.config, image_id)
        fail_capture(cloud.db, image_id, f"The root volume could not be stored: {exc}")
        raise
    with write(cloud.db) as conn:
        conn.execute(update(images).where(images.c.image_id == image_id).values(
            state="available", files=files,
            root_size_gib=max(row["root_size_gib"], math.ceil(files["root_disk"]["virtual_size"] / GIB))))
        conn.execute(delete(captures).where(captures.c.image_id == image_id))


def fail_capture(db: Database, image_id: str, reason: str) -> None:
    images, captures = instance_state.images, instance_state.image_captures
    with write(db) as conn:
        conn.execute(update(images).where(images.c.image_id == image_id, images.c.state == "pending")
                     .values(state="failed", state_reason=reason[:255]))
        conn.execute(delete(captures).where(captures.c.image_id == image_id))


def image_used_on_host(db: Database, host_id: str, image_id: str) -> dict[str, Any] | None:
    """The image's row when an instance on ``host_id`` uses it (hosts only read the AMIs they run)."""
    table, instances = instance_state.images, instance_state.instances
    with db.read() as conn:
        used = conn.execute(select(instances.c.instance_id).where(instances.c.host_id == host_id,
                                                                  instances.c.image_id == image_id)).first()
        row = conn.execute(select(table).where(table.c.image_id == image_id)).mappings().first()
    return dict(row) if used and row is not None else None


def capture_on_host(db: Database, host_id: str, image_id: str) -> bool:
    """Whether ``image_id`` is being captured from an instance on ``host_id`` (CreateImage's upload)."""
    captures, instances = instance_state.image_captures, instance_state.instances
    with db.read() as conn:
        return conn.execute(select(captures.c.image_id).join(
            instances, instances.c.instance_id == captures.c.instance_id).where(
            captures.c.image_id == image_id, instances.c.host_id == host_id)).first() is not None


# --- built-in images ---------------------------------------------------------------------------------------------


def builtin_images_dir(cloud: Cloud) -> Path:
    configured = cloud.config.builtin_images_dir
    return Path(configured) if configured else Path(__file__).resolve().parents[3] / "images" / "out"


def register_builtin_images(cloud: Cloud) -> list[str]:
    """Register each image built under images/out (``<name>/manifest.json``) as a public EBS-backed AMI of the
    management account named ``<manifest name>-<first 8 digits of its root disk's sha256>`` (a rebuilt image is
    a new AMI; instances of the old one keep theirs), unless it is registered already. Returns the ids
    registered now. ``cloudlet up`` makes the management account before the start hooks run this."""
    owner = cloud.credentials.management_account()
    if owner is None:
        return []
    registered = []
    for manifest in sorted(builtin_images_dir(cloud).glob("*/manifest.json")):
        try:
            data = image_store.parse_manifest(manifest.read_bytes(), str(manifest))
        except (OSError, ServiceError) as exc:
            log.warning("built-in image %s skipped: %s", manifest, exc)
            continue
        name = f"{data['name']}-{data['root_disk']['sha256'][:8]}"
        table = instance_state.images
        with cloud.db.read() as conn:
            if conn.execute(select(table.c.image_id).where(table.c.account_id == owner, table.c.name == name,
                                                           table.c.state != "deregistered")).first():
                continue
        image_id = IMAGE.new_id()
        try:
            content = image_store.import_local(manifest, image_store.image_dir(cloud.config, image_id))
            with write(cloud.db) as conn:
                _insert_image(conn, image_id, owner, name, content, root_device_type="ebs",
                              root_device_name=DEFAULT_ROOT_DEVICE, root_size_gib=None, public=True,
                              owner_alias=AMAZON, location=f"{AMAZON}/{name}")
        except (OSError, ServiceError) as exc:
            image_store.remove(cloud.config, image_id)
            log.warning("built-in image %s not registered: %s", manifest, exc)
            continue
        log.info("registered built-in image %s as %s", name, image_id)
        registered.append(image_id)
    return registered


def _register_builtin_images_at_start(cloud: Cloud) -> None:
    """Start hook: register what images/ built before the first request."""
    register_builtin_images(cloud)


api.on_start.append(_register_builtin_images_at_start)
