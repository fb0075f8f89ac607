"""Launch templates as rows: finding one by id or name, its versions, and the outputs the API shows.

A template is named by ``LaunchTemplateId`` or ``LaunchTemplateName``, never both; an unknown one is
AWS's ``InvalidLaunchTemplateId.NotFound`` or ``InvalidLaunchTemplateName.NotFoundException`` (the name
error really ends in ``Exception``), a value that cannot be an id ``InvalidLaunchTemplateId.Malformed``.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from sqlalchemy import Connection, RowMapping, select

from controller.ec2.errors import InvalidParameterCombination, InvalidParameterValue, MissingParameter
from controller.ec2.ids import LAUNCH_TEMPLATE
from controller.ec2.launch_templates import state
from controller.ec2.launch_templates.shapes import response_data
from controller.ec2.tags import check_tags, owned_by_account, register_taggable
from controller.errors import ServiceError, error

register_taggable(LAUNCH_TEMPLATE, owned_by_account(state.launch_templates, "launch_template_id"))

NameNotFound = error("InvalidLaunchTemplateName.NotFoundException")
NameMalformed = error("InvalidLaunchTemplateName.MalformedException")
InvalidUserDataMalformed = error("InvalidUserData.Malformed")
#: The resource types a launch creates, which template data may give tags to.
LAUNCHED_RESOURCE_TYPES = ("instance", "volume", "network-interface", "spot-instances-request", "elastic-gpu")
NAME_PATTERN = re.compile(r"[a-zA-Z0-9().\-/_]{3,128}")


def check_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise NameMalformed("A launch template name must be between 3 and 128 characters, and may contain "
                            "letters, numbers, and the following characters: - ( ) . / _.")
    return name


def name_not_found(name: str) -> ServiceError:
    return NameNotFound(f"The specified launch template, with template name {name}, does not exist.")


def find(conn: Connection, account: str, params: dict[str, Any]) -> RowMapping:
    """The template the request names by ``LaunchTemplateId`` or ``LaunchTemplateName`` (exactly one)."""
    template_id, name = params.get("LaunchTemplateId"), params.get("LaunchTemplateName")
    if template_id and name:
        raise InvalidParameterCombination("Specify either the launch template ID or the launch template name "
                                          "in the request, but not both.")
    if not template_id and not name:
        raise MissingParameter("Either a launch template ID or a launch template name must be specified in "
                               "the request.")
    table = state.launch_templates
    if template_id:
        if not LAUNCH_TEMPLATE.well_formed(template_id):
            raise LAUNCH_TEMPLATE.malformed(template_id)
        condition = table.c.launch_template_id == template_id
    else:
        condition = table.c.name == name
    row = conn.execute(select(table).where(condition, table.c.account_id == account)).mappings().first()
    if row is None:
        raise LAUNCH_TEMPLATE.missing([template_id]) if template_id else name_not_found(name)
    return row


def versions(conn: Connection, template_id: str) -> dict[int, RowMapping]:
    """A template's versions by number."""
    table = state.launch_template_versions
    rows = conn.execute(select(table).where(table.c.launch_template_id == template_id)).mappings()
    return {row["version_number"]: row for row in rows}


def latest(conn: Connection, template_id: str) -> int:
    return max(versions(conn, template_id))


def template_output(row: RowMapping, latest_version: int, tags: list[dict[str, str]]) -> dict[str, Any]:
    """A LaunchTemplate as Create/Describe/Modify/DeleteLaunchTemplate show it (``Tags`` only when it has some,
    as AWS answers)."""
    output = {"LaunchTemplateId": row["launch_template_id"], "LaunchTemplateName": row["name"],
              "CreateTime": row["created_at"], "CreatedBy": row["created_by"],
              "DefaultVersionNumber": row["default_version"], "LatestVersionNumber": latest_version}
    if tags:
        output["Tags"] = tags
    return output


def version_output(template: RowMapping, version: RowMapping) -> dict[str, Any]:
    """A LaunchTemplateVersion, its data in the response shape."""
    output = {"LaunchTemplateId": template["launch_template_id"], "LaunchTemplateName": template["name"],
              "VersionNumber": version["version_number"], "CreateTime": version["created_at"],
              "CreatedBy": version["created_by"],
              "DefaultVersion": version["version_number"] == template["default_version"],
              "LaunchTemplateData": response_data(version["data"])}
    if version["description"] is not None:
        output["VersionDescription"] = version["description"]
    return output


def check_data(data: dict[str, Any]) -> dict[str, Any]:
    """What AWS checks of template data when it is stored (the rest is checked at launch, as AWS does):
    UserData is base64, and the tags to give launched resources name a resource type a launch creates and
    no ``aws:`` key."""
    user_data = data.get("UserData")
    if user_data:
        try:
            base64.b64decode(user_data, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidUserDataMalformed("Invalid BASE64 encoding of user data.") from None
    for spec in data.get("TagSpecifications") or []:
        resource_type = spec.get("ResourceType")
        if resource_type not in LAUNCHED_RESOURCE_TYPES:
            raise InvalidParameterValue(f"'{resource_type}' is not a valid taggable resource type for this "
                                        "operation.")
        check_tags(spec.get("Tags") or [])
    return data


def template_tags(specs: list[dict[str, Any]] | None) -> list[dict[str, str]]:
    """The tags CreateLaunchTemplate's TagSpecifications give the template itself."""
    found: list[dict[str, str]] = []
    for spec in specs or []:
        if spec.get("ResourceType") != LAUNCH_TEMPLATE.resource_type:
            raise InvalidParameterValue("The value for the ResourceType member of the TagSpecification request "
                                        "parameter must be 'launch-template'. Verify the ResourceType and try "
                                        "again.")
        found.extend(check_tags(spec.get("Tags") or []))
    return found
