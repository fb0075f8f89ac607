"""The launch template tables: one row per template, one per version, the data stored as it was given.

A version's ``data`` is the RequestLaunchTemplateData the caller sent (member names as in the model), never
rewritten: RunInstances merges it as given (:mod:`.merge`) and the Describe calls convert it to the response
shape on the way out (:mod:`.shapes`). ``next_version`` is kept apart from the versions themselves because
version numbers are never reused, even after the latest version is deleted.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Integer, String, Table, Text, UniqueConstraint

from controller.ec2.vpc.state import ID
from controller.state import JsonText, UtcDateTime, metadata

launch_templates = Table(
    "ec2_launch_templates", metadata,
    Column("launch_template_id", String(ID), primary_key=True),
    Column("account_id", String(12), nullable=False, index=True),
    Column("name", String(128), nullable=False),
    Column("default_version", Integer, nullable=False),
    #: The number the next CreateLaunchTemplateVersion gets.
    Column("next_version", Integer, nullable=False),
    Column("created_by", String(2048), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    #: CreateLaunchTemplate's ClientToken: the same token gives back this template.
    Column("client_token", String(128)),
    UniqueConstraint("account_id", "name", name="ec2_launch_template_name_per_account"),
)

launch_template_versions = Table(
    "ec2_launch_template_versions", metadata,
    Column("launch_template_id", String(ID), ForeignKey("ec2_launch_templates.launch_template_id",
                                                        ondelete="CASCADE"), primary_key=True),
    Column("version_number", Integer, primary_key=True),
    Column("description", Text),
    #: RequestLaunchTemplateData as given.
    Column("data", JsonText, nullable=False),
    Column("created_by", String(2048), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    #: CreateLaunchTemplateVersion's ClientToken: the same token gives back this version.
    Column("client_token", String(128)),
)
