"""SendSSHPublicKey and SendSerialConsoleSSHPublicKey.

SendSSHPublicKey authorizes ``ec2-instance-connect:SendSSHPublicKey`` on the instance's ARN with the
``ec2:osuser`` condition key (policies such as ``"StringEquals": {"ec2:osuser": "ec2-user"}`` restrict
who may log in as whom) and the instance's tags (``aws:ResourceTag``/``ec2:ResourceTag``). The key is
then recorded for ``keys.key_seconds()`` (60 s) and served by the instance's metadata service under
``managed-ssh-keys/active-keys/<user>`` (controller/ec2/instances/metadata.py), which the AMIs' SSH
servers consult (images/). Input that breaks the model's constraints is refused by the protocol layer
with Coral's wording in an ``InvalidArgsException``, as AWS does.

The serial console is never enabled in Cloudlet (there is no EnableSerialConsoleAccess), so
SendSerialConsoleSSHPublicKey answers what AWS answers an account that has not enabled it.
"""

from __future__ import annotations

import re

from sqlalchemy import select

from controller.api import Params, RequestContext
from controller.ec2 import ids
from controller.ec2.instances import lifecycle
from controller.ec2.instances import state as instance_state
from controller.ec2.tags import ec2_resource_lookup
from controller.ec2_instance_connect import keys, records
from controller.ec2_instance_connect.service import api
from controller.errors import error
from controller.protocol import load_service_model

InvalidArgsException = error("InvalidArgsException")
EC2InstanceNotFoundException = error("EC2InstanceNotFoundException")
EC2InstanceStateInvalidException = error("EC2InstanceStateInvalidException")
SerialConsoleAccessDisabledException = error("SerialConsoleAccessDisabledException", 403)

#: The instance's tags are what ``aws:ResourceTag/*`` conditions see, as for EC2's own calls.
api.resource_lookup = ec2_resource_lookup


def _pattern(shape: str) -> re.Pattern[str]:
    return re.compile(load_service_model("ec2-instance-connect").shape_for(shape).metadata["pattern"])


#: The members whose model patterns the service checks itself (see controller/protocol/faults.py): the
#: model's AvailabilityZone pattern fits AWS's zone names only, so the protocol layer checks no pattern.
PATTERNS = {"InstanceId": ("instanceId", _pattern("InstanceId")),
            "InstanceOSUser": ("instanceOSUser", _pattern("InstanceOSUser"))}


def check_patterns(params: Params) -> None:
    """Refuse members that break their model pattern, in Coral's words, as AWS does before authorizing."""
    problems = [f"Value '{params[member]}' at '{path}' failed to satisfy constraint: Member must satisfy regular "
                f"expression pattern: {pattern.pattern}"
                for member, (path, pattern) in PATTERNS.items()
                if isinstance(params.get(member), str) and not pattern.search(params[member])]
    if problems:
        count = len(problems)
        raise InvalidArgsException(f"{count} validation error{'s' if count > 1 else ''} detected: "
                                   + "; ".join(problems))


def instance_resource(ctx: RequestContext, params: Params) -> list[str]:
    """The instance's ARN, and ``ec2:osuser`` for conditions on the login name.

    IAM asks this before the handler runs, which is where input checks the protocol layer left to the
    service (``check_patterns``) must happen: AWS refuses malformed input before it authorizes.
    """
    check_patterns(params)
    if "InstanceOSUser" in params:
        ctx.condition_keys["ec2:osuser"] = params["InstanceOSUser"]
    return [ids.INSTANCE.arn(ctx, params.get("InstanceId") or "*")]


def _running_instance(ctx: RequestContext, instance_id: str, zone: str | None) -> None:
    """Refuse unless the caller's account has ``instance_id`` running (in ``zone``, when given)."""
    table = instance_state.instances
    with ctx.cloud.db.read() as conn:
        row = conn.execute(select(table.c.state, table.c.availability_zone).where(
            table.c.instance_id == instance_id, table.c.account_id == ctx.account_id)).first()
    if row is None or (zone is not None and row.availability_zone != zone):
        where = f" in the availability zone {zone}" if zone is not None else ""
        raise EC2InstanceNotFoundException(f"Instance {instance_id} was not found{where}.")
    if row.state != lifecycle.RUNNING:
        raise EC2InstanceStateInvalidException(
            f"Unable to connect to instance {instance_id}: the instance is {row.state}. Connecting to a stopped "
            "or terminated instance is not supported; start the instance and try again.")


@api.operation("SendSSHPublicKey", resources=instance_resource)
def send_ssh_public_key(ctx: RequestContext, params: Params) -> Params:
    public_key = params["SSHPublicKey"]
    problem = keys.key_problem(public_key)
    if problem is not None:
        raise InvalidArgsException(problem)
    instance_id = params["InstanceId"]
    _running_instance(ctx, instance_id, params.get("AvailabilityZone"))
    with ctx.cloud.db.begin() as conn:
        records.add_key(conn, instance_id=instance_id, os_user=params["InstanceOSUser"],
                        public_key=public_key.strip(), caller_arn=ctx.principal.arn, request_id=ctx.request_id,
                        now=ctx.received_at)
    ctx.audit_resources.append(ids.INSTANCE.arn(ctx, instance_id))
    return {"RequestId": ctx.request_id, "Success": True}


@api.operation("SendSerialConsoleSSHPublicKey", resources=instance_resource)
def send_serial_console_ssh_public_key(ctx: RequestContext, params: Params) -> Params:
    raise SerialConsoleAccessDisabledException(
        "Your requested instance does not support serial console access: the EC2 Serial Console is not "
        "enabled for this account (Cloudlet does not offer it).")
