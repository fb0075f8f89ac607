"""Auto Scaling's tables: launch configurations, groups, their instances, activities, hooks, policies and
scheduled actions.

A group's settings are kept as one JSON document in the shape DescribeAutoScalingGroups answers (so what was
written reads back unchanged); what the reconciler (``worker.py``) queries or changes on its own (the instances
it owns, their lifecycle states, timers) has columns. Times are epoch seconds (floats) unless a column says
otherwise.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Index, Integer, String, Table, Text

from controller.state import JsonText, metadata

#: Announced when a group, its instances or its timers changed: wakes the reconciler of this process.
CHANGED_TOPIC = "autoscaling.changed"

launch_configurations = Table(
    "asg_launch_configurations", metadata,
    Column("arn", String(400), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("name", String(255), nullable=False),
    #: the LaunchConfiguration output shape, CreatedTime as ISO text
    Column("document", JsonText, nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_asg_lc_name", "account_id", "region", "name", unique=True),
)

groups = Table(
    "asg_groups", metadata,
    Column("arn", String(400), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("name", String(255), nullable=False),
    #: the AutoScalingGroup output shape without Instances (and ``_subnets``: zone -> subnet ids)
    Column("document", JsonText, nullable=False),
    Column("created_at", Float, nullable=False),
    #: None, or "Delete in progress" once DeleteAutoScalingGroup (with ForceDelete) began
    Column("status", String(32)),
    #: when the group's cooldown ends (simple scaling and HonorCooldown look at it)
    Column("cooldown_until", Float, nullable=False, default=0.0),
    #: what changed the desired capacity last, the first half of the next activities' Cause
    Column("pending_cause", Text, nullable=False, default=""),
    Index("ix_asg_groups_name", "account_id", "region", "name", unique=True),
)

instances = Table(
    "asg_instances", metadata,
    Column("instance_id", String(32), primary_key=True),
    Column("group_arn", String(400), nullable=False, index=True),
    Column("zone", String(32), nullable=False),
    Column("subnet_id", String(32)),
    #: Pending, Pending:Wait, Pending:Proceed, InService, Standby, Terminating, Terminating:Wait,
    #: Terminating:Proceed, Terminated, Detaching...
    Column("lifecycle_state", String(32), nullable=False),
    Column("health_status", String(16), nullable=False, default="Healthy"),
    Column("protected", Boolean, nullable=False, default=False),
    Column("launch_configuration", String(255)),
    #: {LaunchTemplateId, LaunchTemplateName, Version} the instance was launched from
    Column("launch_template", JsonText),
    Column("instance_type", String(32)),
    Column("image_id", String(32)),
    Column("spot", Boolean, nullable=False, default=False),
    Column("launched_at", Float, nullable=False),
    #: the activity that launches or terminates it (finished when the instance settles)
    Column("activity_id", String(36)),
    #: hook name -> {token, deadline, global_deadline, result}, while in Pending:Wait or Terminating:Wait
    Column("hooks", JsonText, nullable=False, default=dict),
    #: whether it is registered with the group's target groups (so it is deregistered before it goes)
    Column("registered", Boolean, nullable=False, default=False),
)

activities = Table(
    "asg_activities", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("activity_id", String(36), nullable=False, unique=True),
    Column("group_arn", String(400), nullable=False),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("group_name", String(255), nullable=False),
    Column("description", Text, nullable=False),
    Column("cause", Text, nullable=False),
    Column("status_code", String(40), nullable=False),
    Column("status_message", Text),
    Column("progress", Integer, nullable=False, default=0),
    Column("details", Text, nullable=False, default="{}"),
    Column("start_time", Float, nullable=False),
    Column("end_time", Float),
    Index("ix_asg_activities_group", "account_id", "region", "group_name", "seq"),
    sqlite_autoincrement=True,
)

hooks = Table(
    "asg_lifecycle_hooks", metadata,
    Column("group_arn", String(400), primary_key=True),
    Column("name", String(255), primary_key=True),
    #: the LifecycleHook output shape
    Column("document", JsonText, nullable=False),
)

policies = Table(
    "asg_policies", metadata,
    Column("arn", String(600), primary_key=True),
    Column("group_arn", String(400), nullable=False, index=True),
    Column("name", String(255), nullable=False),
    #: the ScalingPolicy output shape (Alarms included)
    Column("document", JsonText, nullable=False),
)

scheduled_actions = Table(
    "asg_scheduled_actions", metadata,
    Column("arn", String(600), primary_key=True),
    Column("group_arn", String(400), nullable=False, index=True),
    Column("name", String(255), nullable=False),
    #: the ScheduledUpdateGroupAction output shape, times as ISO text
    Column("document", JsonText, nullable=False),
    #: when it runs next (None: never again)
    Column("next_run", Float),
)

refreshes = Table(
    "asg_instance_refreshes", metadata,
    Column("refresh_id", String(36), primary_key=True),
    Column("group_arn", String(400), nullable=False, index=True),
    #: the InstanceRefresh output shape plus ``_pending``: the instance ids still to replace
    Column("document", JsonText, nullable=False),
    Column("started_at", Float, nullable=False),
)
