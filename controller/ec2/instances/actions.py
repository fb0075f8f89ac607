"""Instance state changes: Start/Stop/Reboot/TerminateInstances, attribute changes, and agent reports.

Every change goes through :func:`change_state`, which also keeps the instance's network interfaces
where the dataplane needs them: plugged on the instance's host (their tap is the bridge port) from
launch or start until the guest is off, unplugged while stopped, released at termination. Writes use
``controller.ec2.vpc.state.write``, whose generation bump wakes the agents' long-polls, so a StopInstances
reaches the host within milliseconds.

An instance whose host is down cannot wait for that host: stopping it or terminating it completes at
once (the agent, back, finds a domain it no longer wants and removes or powers it off).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, RowMapping, delete, func, select, update

from agent.contract import codec
from agent.contract import network as model
from agent.contract.naming import tap_name
from controller.api import Params, RequestContext
from controller.ec2.errors import (
    InvalidInstanceID,
    InvalidParameterCombination,
    InvalidParameterValue,
    MissingParameter,
    invalid_value,
    require,
)
from controller.ec2.ids import INSTANCE
from controller.ec2.instances import instance_types, lifecycle, migrations, placement, scheduler
from controller.ec2.instances import state as instance_state
from controller.ec2.instances.images import collect_image_files
from controller.ec2.instances.lifecycle import Observation, Transition
from controller.ec2.instances.views import caller_instance, state_output
from controller.ec2.operation import arns, vpc_operation
from controller.ec2.tags import drop_tags
from controller.ec2.volumes import encryption
from controller.ec2.volumes import records as volume_records
from controller.ec2.vpc import eni_records, state
from controller.ec2.vpc.state import write
from controller.errors import ServiceError, error
from controller.state import upsert, utcnow

if TYPE_CHECKING:
    from controller.cloud import Cloud

InsufficientInstanceCapacity = error("InsufficientInstanceCapacity", 500, sender_fault=False)
CONSOLE_BYTES = 64 * 1024


# --- interfaces follow the instance ------------------------------------------------------------------------------


def tap_port(instance_id: str, device_index: int) -> dict[str, Any]:
    """The dataplane port of an instance NIC: the tap the compute driver names after the instance."""
    return codec.to_json(model.Attachment(port=tap_name(instance_id, device_index), kind="tap"))


def plug(conn: Connection, instance_id: str, host_id: str) -> None:
    eni = state.network_interfaces
    ports = {eni_id: tap_port(instance_id, index) for eni_id, index in conn.execute(
        select(eni.c.network_interface_id, eni.c.device_index).where(eni.c.instance_id == instance_id))}
    eni_records.place_instance(conn, instance_id, host_id, ports)


def change_state(conn: Connection, cloud: Cloud, row: RowMapping, transition: Transition,
                 now: dt.datetime | None = None) -> str:
    """Record ``transition`` and its side effects; returns the new state."""
    now = now or utcnow()
    new = transition.state
    if new == row["state"] and transition.reason is None and transition.transition_reason is None:
        return new
    values: dict[str, Any] = {"state": new, "state_changed_at": now}
    if transition.reason is not None:
        code, message = transition.reason
        values.update(state_reason_code=code or None, state_reason_message=message or None)
    if transition.transition_reason is not None:
        values["state_transition_reason"] = transition.transition_reason
    table = instance_state.instances
    conn.execute(update(table).where(table.c.instance_id == row["instance_id"]).values(**values))
    if new != row["state"]:
        cloud.db.announce(conn, instance_state.STATES_TOPIC)
    if new == lifecycle.STOPPED:
        eni_records.place_instance(conn, row["instance_id"], None)
    elif new == lifecycle.PENDING and row["state"] == lifecycle.STOPPED:
        plug(conn, row["instance_id"], row["host_id"])
        conn.execute(update(table).where(table.c.instance_id == row["instance_id"])
                     .values(start_serial=row["start_serial"] + 1))
    elif new == lifecycle.TERMINATED:
        finish_termination(conn, cloud, row["instance_id"], now)
    return new


def finish_termination(conn: Connection, cloud: Cloud, instance_id: str, now: dt.datetime) -> None:
    """What goes with a terminated instance: interfaces marked DeleteOnTermination (the others are
    detached), its role credentials, its volumes (deleted with it, or left available)."""
    eni_records.release_instance_interfaces(conn, instance_id)
    volume_records.release_instance_volumes(conn, instance_id)
    revoke_credentials(conn, cloud, instance_id)
    captures, images = instance_state.image_captures, instance_state.images
    for (image_id,) in conn.execute(select(captures.c.image_id).where(captures.c.instance_id == instance_id)):
        conn.execute(update(images).where(images.c.image_id == image_id, images.c.state == "pending").values(
            state="failed", state_reason=f"Instance {instance_id} was terminated before its image was taken."))
    conn.execute(delete(captures).where(captures.c.instance_id == instance_id))
    table = instance_state.instances
    conn.execute(update(table).where(table.c.instance_id == instance_id).values(terminated_at=now))


def revoke_credentials(conn: Connection, cloud: Cloud, instance_id: str) -> None:
    """Forget and invalidate the role credentials the metadata service gave the instance (termination, or its
    instance profile changed)."""
    table = instance_state.instance_credentials
    for (key_id,) in conn.execute(select(table.c.access_key_id).where(table.c.instance_id == instance_id)):
        cloud.credentials.delete_key(key_id, conn=conn)
    conn.execute(delete(table).where(table.c.instance_id == instance_id))


# --- the state-changing calls ---------------------------------------------------------------------------------------


def _rows(conn: Connection, account: str, instance_ids: list[str]) -> list[RowMapping]:
    table = instance_state.instances
    found = {r["instance_id"]: r for r in conn.execute(select(table).where(
        table.c.instance_id.in_(instance_ids), table.c.account_id == account)).mappings()}
    missing = [i for i in instance_ids if i not in found]
    if missing:
        raise INSTANCE.missing(missing)
    return [found[i] for i in instance_ids]


def _bulk(ctx: RequestContext, params: Params,
          decide: Callable[[Connection, RowMapping, dt.datetime], Transition]) -> list[Params]:
    """Apply one call to each named instance, all or nothing; the StateChange list AWS answers."""
    require(params, "InstanceIds")
    wanted = list(dict.fromkeys(params["InstanceIds"]))
    now = utcnow()
    changes, terminated_images = [], set()
    with write(ctx.cloud.db) as conn:
        for row in _rows(conn, ctx.account_id, wanted):
            transition = decide(conn, row, now)
            new = change_state(conn, ctx.cloud, row, transition, now)
            if new in (lifecycle.STOPPING, lifecycle.SHUTTING_DOWN) and \
                    not placement.host_is_up(conn, row["host_id"]):
                fresh = conn.execute(select(instance_state.instances).where(
                    instance_state.instances.c.instance_id == row["instance_id"])).mappings().one()
                settled = Transition(lifecycle.STOPPED if new == lifecycle.STOPPING
                                     else lifecycle.TERMINATED)
                new = change_state(conn, ctx.cloud, fresh, settled, now)
            if new == lifecycle.TERMINATED:
                terminated_images.add(row["image_id"])
            changes.append({"InstanceId": row["instance_id"], "CurrentState": state_output(new),
                            "PreviousState": state_output(row["state"])})
    if terminated_images:
        collect_image_files(ctx.cloud, sorted(terminated_images))
    return changes


def check_room_on_host(conn: Connection, cloud: Cloud, row: RowMapping) -> None:
    """StartInstances: the stopped instance's root volume lives on its host, so it starts there or not at all."""
    config = cloud.config
    hosts = [h for h in placement.scheduler_hosts(conn, config, exclude=row["instance_id"])
             if h.host_id == row["host_id"]]
    size = instance_types.guest_size(instance_types.lookup(row["instance_type"]), config)
    dedicated = ((row["dedicated_host_id"], row["host_id"]),) if row["dedicated_host_id"] else ()
    request = scheduler.Request(row["account_id"], size.vcpus, size.memory_mib, zones=(row["availability_zone"],),
                                tenancy=row["tenancy"], dedicated_hosts=dedicated)
    try:
        scheduler.place(request, hosts, placement.capacity(config))
    except scheduler.NoCapacity as exc:
        raise InsufficientInstanceCapacity(
            f"We currently do not have sufficient {row['instance_type']} capacity on the host of instance "
            f"{row['instance_id']} in {row['availability_zone']} ({exc.message}). Stop other instances there "
            "or change the instance type, and try again.") from None


@vpc_operation("StartInstances", resources=arns((INSTANCE, "InstanceIds")))
def start_instances(ctx: RequestContext, params: Params) -> Params:
    def decide(conn: Connection, row: RowMapping, now: dt.datetime) -> Transition:
        transition = lifecycle.start(row["instance_id"], row["state"], now)
        if transition.state != row["state"]:
            check_room_on_host(conn, ctx.cloud, row)
            if encryption.volumes_without_key(ctx.cloud, conn, row["instance_id"]):
                return Transition(lifecycle.STOPPED, encryption.INVALID_KMS_KEY)  # as EC2: back to stopped
        return transition

    return {"StartingInstances": _bulk(ctx, params, decide)}


@vpc_operation("StopInstances", resources=arns((INSTANCE, "InstanceIds")))
def stop_instances(ctx: RequestContext, params: Params) -> Params:
    if params.get("Hibernate"):
        raise InvalidParameterValue("Hibernation is not supported by this cloud's instances.")

    def decide(conn: Connection, row: RowMapping, now: dt.datetime) -> Transition:
        return lifecycle.stop(row["instance_id"], row["state"], row["root_device_type"], now,
                                       api_stop_disabled=row["disable_api_stop"])

    return {"StoppingInstances": _bulk(ctx, params, decide)}


@vpc_operation("TerminateInstances", resources=arns((INSTANCE, "InstanceIds")))
def terminate_instances(ctx: RequestContext, params: Params) -> Params:
    def decide(conn: Connection, row: RowMapping, now: dt.datetime) -> Transition:
        return lifecycle.terminate(row["instance_id"], row["state"], now,
                                            api_termination_disabled=row["disable_api_termination"])

    return {"TerminatingInstances": _bulk(ctx, params, decide)}


@vpc_operation("RebootInstances", resources=arns((INSTANCE, "InstanceIds")))
def reboot_instances(ctx: RequestContext, params: Params) -> Params:
    require(params, "InstanceIds")
    table = instance_state.instances
    with write(ctx.cloud.db) as conn:
        for row in _rows(conn, ctx.account_id, list(dict.fromkeys(params["InstanceIds"]))):
            lifecycle.check_reboot(row["instance_id"], row["state"])
            conn.execute(update(table).where(table.c.instance_id == row["instance_id"])
                         .values(reboot_serial=row["reboot_serial"] + 1))
    return {}


# --- attributes -------------------------------------------------------------------------------------------------------


def _flag(value: Any, parameter: str) -> bool:
    raw = value.get("Value") if isinstance(value, dict) else value
    if isinstance(raw, bool):
        return raw
    if str(raw).lower() in ("true", "false"):
        return str(raw).lower() == "true"
    raise invalid_value(raw, parameter)


#: The flat form (Attribute + Value) mapped to the structured members.
_FLAT = {"instanceType": "InstanceType", "userData": "UserData", "disableApiTermination": "DisableApiTermination",
         "disableApiStop": "DisableApiStop", "instanceInitiatedShutdownBehavior": "InstanceInitiatedShutdownBehavior",
         "sourceDestCheck": "SourceDestCheck", "ebsOptimized": "EbsOptimized", "groupSet": "Groups"}


@vpc_operation("ModifyInstanceAttribute", resources=arns((INSTANCE, "InstanceId")))
def modify_instance_attribute(ctx: RequestContext, params: Params) -> Params:
    require(params, "InstanceId")
    changes = {k: v for k, v in params.items() if k in (*_FLAT.values(), "BlockDeviceMappings")
               and v not in (None, [], {})}
    attribute = params.get("Attribute")
    if attribute:
        if attribute not in _FLAT:
            raise invalid_value(attribute, "Attribute")
        member = _FLAT[attribute]
        value = params.get("Value")
        changes[member] = value.split(",") if member == "Groups" and isinstance(value, str) else {"Value": value}
    if len(changes) != 1:
        names = ", ".join(name[:1].lower() + name[1:] for name in changes)
        raise MissingParameter("Specify exactly one attribute to modify.") if not changes else \
            InvalidParameterCombination(f"Fields for multiple attribute types specified: {names}")
    (member, value), = changes.items()
    table = instance_state.instances
    with write(ctx.cloud.db) as conn:
        row = caller_instance(conn, ctx.account_id, params["InstanceId"])
        instance_id = row["instance_id"]
        if member == "InstanceType":
            _change_type(conn, ctx, row, value.get("Value") if isinstance(value, dict) else value)
        elif member == "UserData":
            lifecycle.check_stopped(instance_id, row["state"])
            data = value.get("Value") if isinstance(value, dict) else value
            data = data.encode() if isinstance(data, str) else data
            conn.execute(update(table).where(table.c.instance_id == instance_id).values(user_data=data or None))
        elif member in ("DisableApiTermination", "DisableApiStop", "EbsOptimized"):
            column = {"DisableApiTermination": "disable_api_termination", "DisableApiStop": "disable_api_stop",
                      "EbsOptimized": "ebs_optimized"}[member]
            conn.execute(update(table).where(table.c.instance_id == instance_id)
                         .values({column: _flag(value, member)}))
        elif member == "InstanceInitiatedShutdownBehavior":
            behavior = value.get("Value") if isinstance(value, dict) else value
            if behavior not in ("stop", "terminate"):
                raise invalid_value(behavior, "InstanceInitiatedShutdownBehavior")
            conn.execute(update(table).where(table.c.instance_id == instance_id).values(shutdown_behavior=behavior))
        elif member in ("SourceDestCheck", "Groups"):
            _change_primary_interface(conn, ctx, row, member, value)
        else:
            _change_delete_on_termination(conn, row, value)
    return {}


def _change_type(conn: Connection, ctx: RequestContext, row: RowMapping, name: str | None) -> None:
    """Vertical scaling: a stopped instance takes another type; the agent redefines its domain."""
    lifecycle.check_stopped(row["instance_id"], row["state"])
    new_type = instance_types.lookup(name)
    if new_type.architecture != row["architecture"]:
        raise InvalidParameterValue(f"The instance type '{new_type.name}' ({new_type.architecture}) does not match "
                                    f"the architecture of instance {row['instance_id']} ({row['architecture']}).")
    table = instance_state.instances
    conn.execute(update(table).where(table.c.instance_id == row["instance_id"]).values(instance_type=new_type.name))


def _change_primary_interface(conn: Connection, ctx: RequestContext, row: RowMapping, member: str, value: Any
                              ) -> None:
    eni = state.network_interfaces
    primary = conn.execute(select(eni).where(eni.c.instance_id == row["instance_id"], eni.c.device_index == 0)
                           ).mappings().first()
    if primary is None:
        raise INSTANCE.missing([row["instance_id"]])
    attached = conn.execute(select(func.count()).select_from(eni).where(eni.c.instance_id == row["instance_id"])
                            ).scalar_one()
    if attached > 1:
        # errors-overview.html, InvalidInstanceID: each interface has its own groups and source/dest check.
        raise InvalidInstanceID(f"There are multiple interfaces attached to instance '{row['instance_id']}'. "
                                "Please specify an interface ID for the operation instead.")
    if member == "SourceDestCheck":
        conn.execute(update(eni).where(eni.c.network_interface_id == primary["network_interface_id"])
                     .values(source_dest_check=_flag(value, "SourceDestCheck")))
        return
    groups = eni_records.check_groups(conn, ctx.account_id, primary["vpc_id"], primary["subnet_id"], list(value),
                                     ctx.cloud.config.security_groups_per_interface)
    if not groups:
        raise MissingParameter("The request must contain the parameter groupId")
    eni_records.set_groups(conn, primary["network_interface_id"], groups)


def _change_delete_on_termination(conn: Connection, row: RowMapping, mappings: list[Params]) -> None:
    for mapping in mappings:
        device = mapping.get("DeviceName")
        ebs = mapping.get("Ebs") or {}
        if "DeleteOnTermination" not in ebs:
            continue
        if not volume_records.set_delete_on_termination(conn, row["instance_id"], device,
                                                        bool(ebs["DeleteOnTermination"])):
            raise ServiceError(f"The device '{device}' is not mapped on instance {row['instance_id']}.",
                               code="InvalidInstanceAttributeValue")


@vpc_operation("ModifyInstanceMetadataOptions", resources=arns((INSTANCE, "InstanceId")))
def modify_instance_metadata_options(ctx: RequestContext, params: Params) -> Params:
    require(params, "InstanceId")
    table = instance_state.instances
    with write(ctx.cloud.db) as conn:
        row = caller_instance(conn, ctx.account_id, params["InstanceId"])
        options = metadata_options(params, row["metadata_options"])
        conn.execute(update(table).where(table.c.instance_id == row["instance_id"]).values(metadata_options=options))
    return {"InstanceId": row["instance_id"], "InstanceMetadataOptions": {
        "State": "applied", "HttpTokens": options["HttpTokens"],
        "HttpPutResponseHopLimit": options["HttpPutResponseHopLimit"], "HttpEndpoint": options["HttpEndpoint"],
        "HttpProtocolIpv6": "disabled", "InstanceMetadataTags": options["InstanceMetadataTags"]}}


DEFAULT_METADATA_OPTIONS = {"HttpTokens": "optional", "HttpPutResponseHopLimit": 1, "HttpEndpoint": "enabled",
                            "InstanceMetadataTags": "disabled"}


def metadata_options(params: Params, current: dict[str, Any] | None = None) -> dict[str, Any]:
    """Instance metadata options: ``current`` (or the defaults) updated by the request's members."""
    options = dict(current or DEFAULT_METADATA_OPTIONS)
    for member, allowed in (("HttpTokens", ("optional", "required")), ("HttpEndpoint", ("enabled", "disabled")),
                            ("InstanceMetadataTags", ("enabled", "disabled"))):
        value = params.get(member)
        if value is not None:
            if value not in allowed:
                raise invalid_value(value, member)
            options[member] = value
    hops = params.get("HttpPutResponseHopLimit")
    if hops is not None:
        if not 1 <= int(hops) <= 64:
            raise invalid_value(hops, "HttpPutResponseHopLimit", "It must be between 1 and 64.")
        options["HttpPutResponseHopLimit"] = int(hops)
    return options


# --- agent reports --------------------------------------------------------------------------------------------------


def apply_report(cloud: Cloud, host_id: str, seen: dict[str, Observation], *, complete: bool,
                 consoles: dict[str, bytes] | None = None, reboots: dict[str, int] | None = None) -> list[str]:
    """What an agent saw of the instances placed on its host; returns the ids whose state changed.

    ``complete`` says the report covers every instance the agent was asked to run, so an instance it
    does not mention has nothing left on the host (``absent``). ``consoles`` carries the console tails
    that changed, ``reboots`` the reboot requests carried out.
    """
    table = instance_state.instances
    changed, terminated_images = [], set()
    now = utcnow()
    with write(cloud.db) as conn:
        migrations.arrived(conn, host_id, {i for i, observed in seen.items() if observed.power == "running"})
        leaving = migrations.leaving(conn, host_id)
        rows = conn.execute(select(table).where(table.c.host_id == host_id,
                                                table.c.state != lifecycle.TERMINATED)).mappings().all()
        for row in rows:
            if row["instance_id"] in leaving and row["state"] == lifecycle.RUNNING:
                continue  # live-migrating away: its guest leaving this host is no disappearance
            observation = seen.get(row["instance_id"]) or (Observation("absent") if complete else None)
            if observation is None:
                continue
            transition = lifecycle.observe(row["state"], row["shutdown_behavior"], observation, row["start_serial"])
            if transition is not None:
                change_state(conn, cloud, row, transition, now)
                changed.append(row["instance_id"])
                if transition.state == lifecycle.TERMINATED:
                    terminated_images.add(row["image_id"])
        mine = {r["instance_id"] for r in rows}
        for instance_id, serial in (reboots or {}).items():
            if instance_id in mine:
                conn.execute(update(table).where(table.c.instance_id == instance_id)
                             .values(reboot_acknowledged=serial))
        for instance_id, output in (consoles or {}).items():
            if instance_id in mine:
                store_console(conn, instance_id, output, now)
    if terminated_images:
        collect_image_files(cloud, sorted(terminated_images))
    return changed


def store_console(conn: Connection, instance_id: str, output: bytes, now: dt.datetime) -> None:
    consoles = instance_state.instance_consoles
    tail = output[-CONSOLE_BYTES:]
    statement = upsert(consoles).values(instance_id=instance_id, output=tail, updated_at=now)
    conn.execute(statement.on_conflict_do_update(index_elements=[consoles.c.instance_id],
                                                 set_={"output": tail, "updated_at": now}))


def purge_terminated(conn: Connection, listed_for: dt.timedelta) -> int:
    """Forget terminated instances no longer listed (their consoles, volumes records and tags too)."""
    table = instance_state.instances
    cutoff = utcnow() - listed_for
    gone = [r[0] for r in conn.execute(select(table.c.instance_id).where(
        table.c.state == lifecycle.TERMINATED, table.c.terminated_at < cutoff))]
    if not gone:
        return 0
    for child in (instance_state.instance_consoles, instance_state.instance_credentials):
        conn.execute(delete(child).where(child.c.instance_id.in_(gone)))
    conn.execute(delete(table).where(table.c.instance_id.in_(gone)))
    drop_tags(conn, gone)
    return len(gone)
