"""Public parameters: Cloudlet's own AMIs, published under ``/aws/service/`` for every account.

AWS publishes its current AMIs as public parameters that templates look up instead of hard-coding ids
(``/aws/service/ami-amazon-linux-latest/...``). Cloudlet does the same for the images it provides (the
images/ builds, registered at start as public AMIs of the management account with owner alias ``amazon``):

    /aws/service/cloudlet/ami/{family}/latest

``{family}`` is the image's name without the 8-digit content hash the registration appends (the image
``cloudlet-tiny-1a2b3c4d`` is of family ``cloudlet-tiny``; images/ builds ``cloudlet-tiny`` and
``cloudlet-debian-12``). The value is the newest available AMI id of the family; the parameter's versions
count the family's images in registration order (version 3 is the family's third image), so ``name:3`` and
GetParameterHistory read the earlier ones, as AWS's public parameters keep their history. Type ``String``,
data type ``aws:ec2:image``; the ARN names no account (``arn:aws:ssm:{region}::parameter/aws/service/...``).
They are computed from EC2's image table on every read, never stored, and cannot be written.

``controller.ssm.resolve.resolve_image`` turns RunInstances' ``resolve:ssm:{name}`` image ids into AMI ids.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select, true

from controller.api import RequestContext
from controller.ec2.instances import state as ec2_state
from controller.ssm import names
from controller.ssm.model import Version

PREFIX = "/aws/service/"
AMI_PREFIX = "/aws/service/cloudlet/ami/"
_HASHED = re.compile(r"^(?P<family>.+)-[0-9a-f]{8}$")


def is_public(name: str) -> bool:
    return name.startswith(PREFIX)


def family_of(image_name: str) -> str:
    """The family an image of the cloud belongs to: its name less the content hash registration appended."""
    match = _HASHED.match(image_name)
    return match.group("family") if match else image_name


def _families(ctx: RequestContext) -> dict[str, list[Any]]:
    """The cloud's own images by family, oldest first (every state: versions keep their numbers)."""
    table = ec2_state.images
    with ctx.cloud.db.read() as conn:
        rows = conn.execute(select(table.c.image_id, table.c.name, table.c.state, table.c.created_at)
                            .where(table.c.owner_alias == "amazon", table.c.public == true())
                            .order_by(table.c.created_at, table.c.image_id)).mappings().all()
    families: dict[str, list[Any]] = {}
    for row in rows:
        families.setdefault(family_of(row["name"]), []).append(row)
    return families


def _versions_of(ctx: RequestContext, family: str, images: list[Any]) -> list[Version]:
    name = f"{AMI_PREFIX}{family}/latest"
    arn = names.parameter_arn(ctx.cloud.config.partition, ctx.region, "", name)
    return [Version(name=name, arn=arn, version=number, type="String", value=row["image_id"],
                    modified_at=row["created_at"].timestamp(), data_type="aws:ec2:image")
            for number, row in enumerate(images, 1) if row["state"] == "available"]


def versions(ctx: RequestContext, name: str) -> list[Version]:
    """The versions of public parameter ``name`` (none: it does not exist), oldest first."""
    if not (name.startswith(AMI_PREFIX) and name.endswith("/latest")):
        return []
    family = name[len(AMI_PREFIX):-len("/latest")]
    images = _families(ctx).get(family)
    return _versions_of(ctx, family, images) if images else []


def latest_all(ctx: RequestContext) -> list[Version]:
    """The current version of every public parameter, by name (what GetParametersByPath walks)."""
    found = [listed[-1] for family, images in _families(ctx).items()
             if (listed := _versions_of(ctx, family, images))]
    return sorted(found, key=lambda item: item.name)
