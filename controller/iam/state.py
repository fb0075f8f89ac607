"""IAM's tables: identities, policies and how they are attached, per account.

Entities are keyed by their unique id (AIDA..., AGPA..., AROA...), which survives a
rename, and carry ``name_key`` (the lowercased name) because IAM names are unique
regardless of case. Tags live on the entity row as a JSON list in AWS's order.
Access keys are not here: they belong to the shared credential store.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint

from controller.state import JsonText, UtcDateTime, metadata


def _entity_table(table_name: str, id_column: str, name_column: str, name_length: int, *extra: Column) -> Table:
    """A user, group, role or instance profile table: the columns all of them share, then ``extra``.

    ``entity_operations.new_row`` fills exactly these shared columns.
    """
    return Table(
        table_name, metadata,
        Column(id_column, String(32), primary_key=True),
        Column("account_id", String(12), nullable=False),
        Column(name_column, String(name_length), nullable=False),
        Column("name_key", String(name_length), nullable=False),
        Column("path", String(512), nullable=False),
        Column("arn", String(1024), nullable=False),
        Column("created_at", UtcDateTime, nullable=False),
        *extra,
        UniqueConstraint("account_id", "name_key"),
    )


users = _entity_table(
    "iam_users", "user_id", "user_name", 64,
    Column("boundary_arn", String(2048)),
    Column("tags", JsonText, nullable=False),
)

groups = _entity_table("iam_groups", "group_id", "group_name", 128)

group_members = Table(
    "iam_group_members", metadata,
    Column("group_id", String(32), ForeignKey("iam_groups.group_id"), primary_key=True),
    Column("user_id", String(32), ForeignKey("iam_users.user_id"), primary_key=True),
    Index("ix_iam_group_members_user", "user_id"),
)

roles = _entity_table(
    "iam_roles", "role_id", "role_name", 64,
    Column("trust_policy", Text, nullable=False),
    Column("description", String(1000)),
    Column("max_session_duration", Integer, nullable=False),
    Column("boundary_arn", String(2048)),
    Column("tags", JsonText, nullable=False),
    Column("last_used_at", UtcDateTime),
    Column("last_used_region", String(32)),
)

#: Customer managed policies (AWS managed ones are package data, see ``aws_policies``).
policies = Table(
    "iam_policies", metadata,
    Column("policy_id", String(32), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("policy_name", String(128), nullable=False),
    Column("name_key", String(128), nullable=False),
    Column("path", String(512), nullable=False),
    Column("arn", String(2048), nullable=False, unique=True),
    Column("description", String(1000)),
    Column("default_version", String(16), nullable=False),
    #: Versions are numbered v1, v2... and numbers are never reused after a delete.
    Column("next_version", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("tags", JsonText, nullable=False),
    UniqueConstraint("account_id", "name_key"),
)

policy_versions = Table(
    "iam_policy_versions", metadata,
    Column("policy_id", String(32), ForeignKey("iam_policies.policy_id"), primary_key=True),
    Column("version_id", String(16), primary_key=True),
    Column("document", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

#: Inline policies of users, groups and roles (``owner_type``), keyed by the owner's id.
inline_policies = Table(
    "iam_inline_policies", metadata,
    Column("owner_id", String(32), primary_key=True),
    Column("name_key", String(128), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("owner_type", String(8), nullable=False),
    Column("policy_name", String(128), nullable=False),
    Column("document", Text, nullable=False),
)

#: Managed policies (customer or AWS) attached to users, groups and roles.
attachments = Table(
    "iam_attachments", metadata,
    Column("owner_id", String(32), primary_key=True),
    Column("policy_arn", String(2048), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("owner_type", String(8), nullable=False),
    Column("attached_at", UtcDateTime, nullable=False),
    Index("ix_iam_attachments_policy", "account_id", "policy_arn"),
)

instance_profiles = _entity_table(
    "iam_instance_profiles", "profile_id", "profile_name", 128,
    Column("tags", JsonText, nullable=False),
)

instance_profile_roles = Table(
    "iam_instance_profile_roles", metadata,
    Column("profile_id", String(32), ForeignKey("iam_instance_profiles.profile_id"), primary_key=True),
    Column("role_id", String(32), ForeignKey("iam_roles.role_id"), primary_key=True),
    Index("ix_iam_instance_profile_roles_role", "role_id"),
)

#: Virtual MFA devices. ``name_key`` is the lowercased path and name (unique per account, as
#: AWS's "MFADevice entity at the same path and name"); the TOTP seed is a secret and is kept
#: encrypted with the cloud's SecretBox. ``user_id`` is the IAM user the device is enabled for.
#: ``last_step`` is the last TOTP time step whose code was accepted (no code is accepted twice),
#: ``drift_steps`` how far the device's clock runs ahead (ResyncMFADevice measures it).
mfa_devices = Table(
    "iam_mfa_devices", metadata,
    Column("serial_number", String(1024), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("device_name", String(512), nullable=False),
    Column("name_key", String(1024), nullable=False),
    Column("path", String(512), nullable=False),
    Column("seed_encrypted", Text, nullable=False),
    Column("user_id", String(32)),
    Column("enabled_at", UtcDateTime),
    Column("last_step", Integer),
    Column("drift_steps", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("tags", JsonText, nullable=False),
    UniqueConstraint("account_id", "name_key"),
    Index("ix_iam_mfa_devices_user", "user_id"),
)

#: Console passwords of IAM users (login profiles), kept only as scrypt hashes (``auth/passwords.py``).
#: ``password_hash`` is NULL once DeleteLoginProfile removed the profile: the row stays for what AWS keeps
#: about past passwords, ``last_used_at`` (GetUser's ``PasswordLastUsed``) and ``history``, the hashes of
#: earlier passwords, newest first, that PasswordReusePrevention compares a new password with.
login_profiles = Table(
    "iam_login_profiles", metadata,
    Column("user_id", String(32), ForeignKey("iam_users.user_id"), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("password_hash", String(256)),
    Column("reset_required", Boolean, nullable=False),
    Column("created_at", UtcDateTime),
    #: When the current password was set: MaxPasswordAge counts from here.
    Column("password_set_at", UtcDateTime),
    Column("last_used_at", UtcDateTime),
    Column("history", JsonText, nullable=False),
)

#: The account password policy (UpdateAccountPasswordPolicy's parameters as given, defaults filled in).
password_policies = Table(
    "iam_password_policies", metadata,
    Column("account_id", String(12), primary_key=True),
    Column("policy", JsonText, nullable=False),
)

#: Account aliases (CreateAccountAlias): at most one per account, and unique across the cloud, since the
#: console's sign-in accepts an alias in place of the account id.
account_aliases = Table(
    "iam_account_aliases", metadata,
    Column("account_id", String(12), primary_key=True),
    Column("alias", String(63), nullable=False, unique=True),
)
