"""Systems Manager's fleet tables: hybrid activations, managed instances, Run Command and the agents' messages.

A managed instance is any machine whose agent reports to the account: an EC2 instance (``i-…``, its agent
signed in with the instance profile's role session) or an on-premises machine registered with an activation
(``mi-…``, its agent holding an RSA key whose public half is kept here). A command has one invocation per
target; the agents' channel (ec2messages) hands each invocation to its agent as a message, and the agent's
replies move the invocation through AWS's statuses. Times are epoch seconds.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, String, Table, Text

from controller.state import JsonText, metadata

activations = Table(
    "ssm_activations", metadata,
    Column("activation_id", String(36), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    #: sha256 of the activation code: the code is shown once, at creation, as on AWS.
    Column("code_digest", String(64), nullable=False),
    Column("description", String(256), nullable=False),
    Column("default_instance_name", String(256), nullable=False),
    Column("iam_role", String(64), nullable=False),
    Column("registration_limit", Integer, nullable=False),
    Column("registrations_count", Integer, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("tags", JsonText, nullable=False),
    Index("ix_ssm_activations_account", "account_id", "region"),
)

managed_instances = Table(
    "ssm_managed_instances", metadata,
    Column("instance_id", String(32), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("resource_type", String(16), nullable=False),      # EC2Instance | ManagedInstance
    #: Hybrid machines only: how they registered, their role, and the public key that signs their token requests.
    Column("activation_id", String(36)),
    Column("iam_role", String(64)),
    Column("name", String(256)),
    Column("public_key", Text),
    Column("registered_at", Float, nullable=False),
    #: What the agent last said of itself (UpdateInstanceInformation), and when it last called in.
    Column("agent_version", String(32)),
    Column("platform_type", String(16)),
    Column("platform_name", String(128)),
    Column("platform_version", String(64)),
    Column("computer_name", String(256)),
    Column("ip_address", String(64)),
    Column("last_ping_at", Float),
    Column("tags", JsonText, nullable=False),
    Index("ix_ssm_managed_instances_account", "account_id", "region"),
)

commands = Table(
    "ssm_commands", metadata,
    Column("command_id", String(36), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    #: Everything SendCommand accepted, as the Command structure echoes it (Parameters, Targets, outputs...).
    Column("request", JsonText, nullable=False),
    Column("requested_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("cancelled", Integer, nullable=False),
    Index("ix_ssm_commands_account", "account_id", "region", "requested_at"),
)

invocations = Table(
    "ssm_command_invocations", metadata,
    Column("command_id", String(36), primary_key=True),
    Column("instance_id", String(32), primary_key=True),
    Column("position", Integer, nullable=False),              # the order targets are released in
    Column("status", String(16), nullable=False),             # AWS's CommandInvocationStatus
    Column("status_details", String(32), nullable=False),
    #: The message that carries it to the agent: None until the concurrency limit releases it.
    Column("message_id", String(64)),
    Column("delivered_at", Float),
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("response_code", Integer, nullable=False),
    Column("stdout", Text, nullable=False),
    Column("stderr", Text, nullable=False),
    Column("output_s3_prefix", String(1024)),
)

messages = Table(
    "ssm_agent_messages", metadata,
    Column("message_id", String(64), primary_key=True),
    Column("destination", String(32), nullable=False),
    Column("topic", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    #: Not handed out again before this time (GetMessages' visibility timeout).
    Column("visible_at", Float, nullable=False),
    Column("acknowledged", Integer, nullable=False),
    Index("ix_ssm_agent_messages_destination", "destination", "acknowledged"),
)

sessions = Table(
    "ssm_sessions", metadata,
    Column("session_id", String(96), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("region", String(32), nullable=False),
    Column("target", String(32), nullable=False),
    Column("document_name", String(128), nullable=False),
    Column("parameters", JsonText, nullable=False),
    Column("owner", String(2048), nullable=False),
    Column("reason", String(256)),
    Column("status", String(16), nullable=False),             # AWS's SessionStatus
    Column("started_at", Float, nullable=False),
    Column("ended_at", Float),
    #: sha256 of the tokens that open the session's data channel: the user's client's (a new one on each
    #: ResumeSession) and the agent's.
    Column("client_token_digest", String(64), nullable=False),
    Column("agent_token_digest", String(64), nullable=False),
    Index("ix_ssm_sessions_account", "account_id", "region", "started_at"),
)
