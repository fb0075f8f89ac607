"""How agents join and report: RegisterManagedInstance, RequestManagedInstanceRoleToken, UpdateInstanceInformation,
and DeregisterManagedInstance.

AWS keeps the agents' calls out of its public SDK models (Cloudlet's ``ssm.overlay.json`` adds them):

- A hybrid machine registers unsigned, with an activation's id and code and an RSA public key it made; it gets
  an ``mi-…`` id. It then asks, again unsigned, for its role token: a request signed with its private key
  (RSA PKCS#1 v1.5, SHA-256, over ``"<instance id>\\n<timestamp>"``, the timestamp within five minutes) gets a
  one-hour session of the activation's service role named after the machine.
- An EC2 instance needs no registration: its agent signs in with the instance profile's role session, whose
  session name is the instance id, as AWS's is.
- Every agent then reports itself with UpdateInstanceInformation, signed as its session. A session may only speak
  for the machine it is named after, so a machine cannot report (or fetch commands) as another.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
import time
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from sqlalchemy import Connection, RowMapping, delete, insert, select, update

from controller.api import Params, RequestContext
from controller.ec2.instances import state as ec2_state
from controller.errors import error
from controller.iam import state as iam_state
from controller.ssm.activations import InvalidActivation, code_digest
from controller.ssm.fleet_state import activations, managed_instances, messages
from controller.ssm.service import api
from controller.ssm.tags import managed_instance_arn
from controller.state import utcnow
from controller.sts.service_sessions import mint_role_session

InvalidInstanceId = error("InvalidInstanceId")
AccessDeniedException = error("AccessDeniedException")

ROLE_TOKEN_LIFETIME = dt.timedelta(hours=1)
#: How far a role-token request's timestamp may be from the controller's clock.
CLOCK_SKEW_SECONDS = 300
_MIN_KEY_BITS = 2048


def instance_arn(ctx: RequestContext, instance_id: str) -> str:
    """The ARN IAM authorizes for a managed instance: EC2's for ``i-…``, Systems Manager's for ``mi-…``."""
    partition = ctx.cloud.config.partition
    if instance_id.startswith("i-"):
        return f"arn:{partition}:ec2:{ctx.region}:{ctx.account_id}:instance/{instance_id}"
    return managed_instance_arn(partition, ctx.region, ctx.account_id, instance_id)


def _unknown(instance_id: str) -> InvalidInstanceId:
    return InvalidInstanceId(f"Instance Id {instance_id} is not valid or is not registered with Systems Manager.")


def calling_instance(ctx: RequestContext, conn: Connection, instance_id: str) -> RowMapping:
    """The managed instance the calling agent speaks for; AccessDenied for a session named otherwise.

    An EC2 instance's first call registers it (its role session proves it is that instance).
    """
    if ctx.principal.kind != "assumed-role" or ctx.principal.session_name != instance_id:
        raise AccessDeniedException(f"The caller {ctx.principal.arn} is not the agent of {instance_id}.")
    row = conn.execute(select(managed_instances).where(
        managed_instances.c.instance_id == instance_id,
        managed_instances.c.account_id == ctx.account_id)).mappings().first()
    if row is not None:
        return row
    if not instance_id.startswith("i-") or not _ec2_instance_exists(conn, ctx.account_id, instance_id):
        raise _unknown(instance_id)
    conn.execute(insert(managed_instances).values(
        instance_id=instance_id, account_id=ctx.account_id, region=ctx.region, resource_type="EC2Instance",
        iam_role=ctx.principal.name, registered_at=time.time(), tags={}))
    return conn.execute(select(managed_instances).where(
        managed_instances.c.instance_id == instance_id)).mappings().one()


def _ec2_instance_exists(conn: Connection, account_id: str, instance_id: str) -> bool:
    table = ec2_state.instances
    return conn.execute(select(table.c.instance_id).where(
        table.c.instance_id == instance_id, table.c.account_id == account_id,
        table.c.state.notin_(("terminated", "shutting-down")))).first() is not None


def _public_key(pem: str) -> rsa.RSAPublicKey:
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except ValueError:
        raise InvalidActivation("PublicKey is not a PEM-encoded public key.") from None
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < _MIN_KEY_BITS:
        raise InvalidActivation(f"PublicKey must be an RSA key of at least {_MIN_KEY_BITS} bits.")
    return key


@api.operation("RegisterManagedInstance", authorize=False)
def register_managed_instance(ctx: RequestContext, params: Params) -> Params:
    if params["PublicKeyType"] != "Rsa":
        raise InvalidActivation("PublicKeyType must be Rsa.")
    _public_key(params["PublicKey"])
    if params["Fingerprint"] != hashlib.sha256(params["PublicKey"].encode()).hexdigest():
        raise InvalidActivation("Fingerprint is not the SHA-256 of PublicKey.")
    now = time.time()
    instance_id = "mi-" + secrets.token_hex(9)[:17]
    with ctx.cloud.db.begin() as conn:
        activation = conn.execute(select(activations).where(
            activations.c.activation_id == params["ActivationId"])).mappings().first()
        if activation is None or not secrets.compare_digest(activation["code_digest"],
                                                            code_digest(params["ActivationCode"])):
            raise InvalidActivation("Activation ID or code is not valid.")
        if activation["expires_at"] <= now:
            raise InvalidActivation("Activation has expired.")
        claimed = conn.execute(update(activations).where(
            activations.c.activation_id == activation["activation_id"],
            activations.c.registrations_count < activations.c.registration_limit).values(
            registrations_count=activations.c.registrations_count + 1)).rowcount
        if not claimed:
            raise InvalidActivation("Activation has reached its registration limit.")
        conn.execute(insert(managed_instances).values(
            instance_id=instance_id, account_id=activation["account_id"], region=activation["region"],
            resource_type="ManagedInstance", activation_id=activation["activation_id"],
            iam_role=activation["iam_role"], name=activation["default_instance_name"] or None,
            public_key=params["PublicKey"], registered_at=now, tags={}))
    ctx.audit_resources.append(managed_instance_arn(ctx.cloud.config.partition, activation["region"],
                                                    activation["account_id"], instance_id))
    return {"InstanceId": instance_id}


def _check_signature(row: RowMapping, params: Params) -> None:
    denied = AccessDeniedException(f"The role token request for {params['InstanceId']} is not signed by its key.")
    try:
        signed_at = dt.datetime.strptime(params["Timestamp"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
        signature = base64.b64decode(params["Signature"], validate=True)
    except ValueError:
        raise denied from None
    if abs(signed_at.timestamp() - time.time()) > CLOCK_SKEW_SECONDS:
        raise AccessDeniedException("The role token request's Timestamp is more than 5 minutes from the "
                                    "service's clock: check the machine's time.")
    message = f"{params['InstanceId']}\n{params['Timestamp']}".encode()
    try:
        _public_key(row["public_key"]).verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise denied from None


@api.operation("RequestManagedInstanceRoleToken", authorize=False)
def request_role_token(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        row = conn.execute(select(managed_instances).where(
            managed_instances.c.instance_id == params["InstanceId"],
            managed_instances.c.resource_type == "ManagedInstance")).mappings().first()
    if row is None:
        raise _unknown(params["InstanceId"])
    _check_signature(row, params)
    roles = iam_state.roles
    with ctx.cloud.db.begin() as conn:
        role = conn.execute(select(roles).where(roles.c.account_id == row["account_id"],
                                                roles.c.role_name == row["iam_role"])).mappings().first()
        if role is None:
            raise AccessDeniedException(f"The service role {row['iam_role']} of {row['instance_id']} no longer "
                                        "exists: create it again, or register the machine with a new activation.")
        session = mint_role_session(conn, ctx.cloud, role, row["instance_id"], utcnow(), ROLE_TOKEN_LIFETIME)
    return {"AccessKeyId": session.access_key_id, "SecretAccessKey": session.secret_access_key,
            "SessionToken": session.session_token, "TokenExpirationDate": int(session.expires_at.timestamp())}


_REPORTED = {"AgentVersion": "agent_version", "PlatformType": "platform_type", "PlatformName": "platform_name",
             "PlatformVersion": "platform_version", "ComputerName": "computer_name", "IPAddress": "ip_address"}


def _own_arn(ctx: RequestContext, params: Params) -> list[str]:
    return [instance_arn(ctx, params["InstanceId"])]


@api.operation("UpdateInstanceInformation", resources=_own_arn)
def update_instance_information(ctx: RequestContext, params: Params) -> Params:
    values: dict[str, Any] = {column: params[key][:256] for key, column in _REPORTED.items() if key in params}

    def report(conn: Connection) -> None:
        row = calling_instance(ctx, conn, params["InstanceId"])
        conn.execute(update(managed_instances).where(managed_instances.c.instance_id == row["instance_id"])
                     .values(last_ping_at=time.time(), **values))

    ctx.cloud.writer.run(report)   # every agent pings: one fsync for all that ping at once
    return {}


@api.operation("DeregisterManagedInstance", resources=_own_arn)
def deregister_managed_instance(ctx: RequestContext, params: Params) -> Params:
    instance_id = params["InstanceId"]
    with ctx.cloud.db.begin() as conn:
        deleted = conn.execute(delete(managed_instances).where(
            managed_instances.c.instance_id == instance_id, managed_instances.c.account_id == ctx.account_id,
            managed_instances.c.region == ctx.region,
            managed_instances.c.resource_type == "ManagedInstance")).rowcount
        if deleted:  # nothing will fetch its messages again; its undelivered invocations time out
            conn.execute(delete(messages).where(messages.c.destination == instance_id))
    if not deleted:
        raise _unknown(instance_id)
    return {}
