"""CreateLaunchTemplateVersion, DescribeLaunchTemplateVersions and DeleteLaunchTemplateVersions.

Versions are immutable and numbered in the order they are made; a number is never given twice, even after
the latest version is deleted. The default version cannot be deleted: DeleteLaunchTemplateVersions reports
it, like every version it could not delete, in ``UnsuccessfullyDeletedLaunchTemplateVersions`` and deletes
the others, as AWS does.
"""

from __future__ import annotations

from sqlalchemy import delete, insert, select, update

from controller.api import Params, RequestContext
from controller.ec2.describe import listing, page
from controller.ec2.errors import InvalidParameterValue, MissingParameter
from controller.ec2.filters import apply_filters, check_names
from controller.ec2.launch_templates import records, selection, state
from controller.ec2.launch_templates.records import LAUNCH_TEMPLATE
from controller.ec2.operation import arns, vpc_operation
from controller.errors import ServiceError
from controller.state import utcnow

MAX_DELETE = 200
#: Orders versions newest first within a template in a page key (page tokens compare keys as text).
_ORDER_BASE = 10**9


@vpc_operation("CreateLaunchTemplateVersion", resources=arns((LAUNCH_TEMPLATE, "LaunchTemplateId")))
def create_launch_template_version(ctx: RequestContext, params: Params) -> Params:
    """A new version: SourceVersion's data (when given) with the new data's members over it."""
    data = records.check_data(params["LaunchTemplateData"])
    table, versions = state.launch_templates, state.launch_template_versions
    token = params.get("ClientToken")
    with ctx.cloud.db.begin() as conn:
        template = records.find(conn, ctx.account_id, params)
        template_id = template["launch_template_id"]
        existing = records.versions(conn, template_id)
        again = next((v for v in existing.values() if token and v["client_token"] == token), None)
        if again is not None:
            return {"LaunchTemplateVersion": records.version_output(template, again)}
        source = params.get("SourceVersion")
        if source is not None:
            number = selection.resolve(source, existing, template["default_version"], template_id)
            data = {**existing[number]["data"], **data}
        number = template["next_version"]
        conn.execute(insert(versions).values(
            launch_template_id=template_id, version_number=number, description=params.get("VersionDescription"),
            data=data, created_by=ctx.principal.arn, created_at=utcnow(), client_token=token))
        conn.execute(update(table).where(table.c.launch_template_id == template_id).values(next_version=number + 1))
        row = conn.execute(select(versions).where(versions.c.launch_template_id == template_id,
                                                  versions.c.version_number == number)).mappings().one()
        return {"LaunchTemplateVersion": records.version_output(template, row)}


def _ipv4_metadata(row: Params) -> str | None:
    """The IPv4 metadata endpoint's state: the output has no member for it (only HttpProtocolIpv6), and it is
    on whenever the metadata endpoint is."""
    endpoint = ((row.get("LaunchTemplateData") or {}).get("MetadataOptions") or {}).get("HttpEndpoint")
    return None if endpoint is None else "disabled" if endpoint == "disabled" else "enabled"


#: API_DescribeLaunchTemplateVersions.html
VERSION_FILTERS = {
    "create-time": "CreateTime",
    "ebs-optimized": "LaunchTemplateData.EbsOptimized",
    "http-endpoint": "LaunchTemplateData.MetadataOptions.HttpEndpoint",
    "http-protocol-ipv4": _ipv4_metadata,
    "host-resource-group-arn": "LaunchTemplateData.Placement.HostResourceGroupArn",
    "http-tokens": "LaunchTemplateData.MetadataOptions.HttpTokens",
    "iam-instance-profile": "LaunchTemplateData.IamInstanceProfile.Arn",
    "image-id": "LaunchTemplateData.ImageId",
    "instance-type": "LaunchTemplateData.InstanceType",
    "is-default-version": "DefaultVersion",
    "kernel-id": "LaunchTemplateData.KernelId",
    "license-configuration-arn": "LaunchTemplateData.LicenseSpecifications[].LicenseConfigurationArn",
    "network-card-index": "LaunchTemplateData.NetworkInterfaces[].NetworkCardIndex",
    "ram-disk-id": "LaunchTemplateData.RamDiskId",
}

_ALL_TEMPLATES_USAGE = (
    "To describe the launch template data for all your launch templates, for 'Versions' specify '$Latest', "
    "'$Default', or both, and omit 'LaunchTemplateId', 'LaunchTemplateName', and version numbers. To describe the "
    "launch template data for a specific launch template, specify 'LaunchTemplateId' or 'LaunchTemplateName', and "
    "for 'Versions' specify one or more of the following values: '$Latest', '$Default', or one or more version "
    "numbers.")


@vpc_operation("DescribeLaunchTemplateVersions", resources=arns((LAUNCH_TEMPLATE, "LaunchTemplateId")))
def describe_launch_template_versions(ctx: RequestContext, params: Params) -> Params:
    """One template's versions (named, or MinVersion..MaxVersion, or all), newest first; or, without a
    template, the ``$Latest`` and/or ``$Default`` version of every template."""
    check_names(params.get("Filters"), VERSION_FILTERS, None)
    wanted = params.get("Versions") or []
    one_template = bool(params.get("LaunchTemplateId") or params.get("LaunchTemplateName"))
    if not one_template:
        if not wanted:
            raise MissingParameter(_ALL_TEMPLATES_USAGE)
        if any(selection.version_number(v) is not None for v in wanted):
            raise InvalidParameterValue(_ALL_TEMPLATES_USAGE)
    table = state.launch_templates
    items = []
    with ctx.cloud.db.read() as conn:
        if one_template:
            templates = [records.find(conn, ctx.account_id, params)]
        else:
            templates = conn.execute(select(table).where(table.c.account_id == ctx.account_id)).mappings().all()
        for template in templates:
            template_id = template["launch_template_id"]
            existing = records.versions(conn, template_id)
            chosen = selection.select(existing, template["default_version"], template_id, wanted,
                                      params.get("MinVersion"), params.get("MaxVersion"))
            for number in chosen:
                item = records.version_output(template, existing[number])
                item["_order"] = f"{template_id}/{_ORDER_BASE - number:010d}"
                items.append(item)
    items = apply_filters(sorted(items, key=lambda i: i["_order"]), params.get("Filters"), VERSION_FILTERS,
                          tags_key=None)
    listed, token = page(items, params, "_order", (1, 200))
    return listing("LaunchTemplateVersions", [{k: v for k, v in i.items() if k != "_order"} for i in listed],
                   token)


@vpc_operation("DeleteLaunchTemplateVersions", resources=arns((LAUNCH_TEMPLATE, "LaunchTemplateId")))
def delete_launch_template_versions(ctx: RequestContext, params: Params) -> Params:
    """Deletes the versions that exist and are not the default; reports each other one with AWS's error."""
    wanted = params.get("Versions") or []
    if not wanted:
        raise MissingParameter("The request must contain the parameter Versions")
    if len(wanted) > MAX_DELETE:
        raise InvalidParameterValue(f"You can delete up to {MAX_DELETE} launch template versions per request.")
    numbers = list(dict.fromkeys(_number(v) for v in wanted))
    template_id, name = params.get("LaunchTemplateId"), params.get("LaunchTemplateName")
    versions = state.launch_template_versions
    with ctx.cloud.db.begin() as conn:
        try:
            template = records.find(conn, ctx.account_id, params)
        except ServiceError as exc:
            code = _TEMPLATE_ERRORS.get((exc.code, bool(template_id)))
            if code is None:
                raise
            failed = {"LaunchTemplateId": template_id} if template_id else {"LaunchTemplateName": name}
            return {"SuccessfullyDeletedLaunchTemplateVersions": [], "UnsuccessfullyDeletedLaunchTemplateVersions": [
                {**failed, "VersionNumber": n, "ResponseError": {"Code": code, "Message": exc.message}}
                for n in numbers]}
        template_id = template["launch_template_id"]
        named = {"LaunchTemplateId": template_id, "LaunchTemplateName": template["name"]}
        existing = records.versions(conn, template_id)
        deleted, failed_items = [], []
        for number in numbers:
            if number == template["default_version"]:
                failed_items.append({**named, "VersionNumber": number, "ResponseError": {
                    "Code": "unexpectedError", "Message": "The default version cannot be deleted. Either specify "
                    "another version as default or delete the launch template."}})
            elif number not in existing:
                failed_items.append({**named, "VersionNumber": number, "ResponseError": {
                    "Code": "launchTemplateVersionDoesNotExist",
                    "Message": f"The specified launch template version {number} does not exist."}})
            else:
                deleted.append(number)
        if deleted:
            conn.execute(delete(versions).where(versions.c.launch_template_id == template_id,
                                                versions.c.version_number.in_(deleted)))
    return {"SuccessfullyDeletedLaunchTemplateVersions": [{**named, "VersionNumber": n} for n in deleted],
            "UnsuccessfullyDeletedLaunchTemplateVersions": failed_items}


#: A template that cannot be found, as the per-version error DeleteLaunchTemplateVersions reports:
#: (the error :func:`records.find` raised, whether the request named an id).
_TEMPLATE_ERRORS = {
    (LAUNCH_TEMPLATE.not_found_code, True): "launchTemplateIdDoesNotExist",
    (LAUNCH_TEMPLATE.malformed_code, True): "launchTemplateIdMalformed",
    ("InvalidLaunchTemplateName.NotFoundException", False): "launchTemplateNameDoesNotExist",
}


def _number(value: str) -> int:
    number = selection.version_number(value)
    if number is None:
        raise InvalidParameterValue(f"Invalid value for version: {value}. Specify version numbers to delete.")
    return number
