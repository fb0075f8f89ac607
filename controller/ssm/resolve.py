"""RunInstances' ``resolve:ssm:`` image ids: an AMI id read from a parameter, public or the caller's own.

EC2 accepts ``resolve:ssm:{name}``, ``resolve:ssm:{name}:{version}`` and ``resolve:ssm:{name}:{label}`` where
an AMI id goes, and reads the parameter as the caller when it launches
(https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/using-systems-manager-parameter-to-find-AMI.html).
"""

from __future__ import annotations

import re
from dataclasses import replace

from controller.api import RequestContext
from controller.ec2.errors import invalid_value
from controller.errors import ServiceError
from controller.iam.enforce import check_action
from controller.ssm import records

RESOLVE_PREFIX = "resolve:ssm:"
_AMI_ID = re.compile(r"^ami-[0-9a-f]{8,17}$")


def resolve_image(ctx: RequestContext, reference: str) -> str:
    """The AMI id a ``resolve:ssm:{name}[:{version}|:{label}]`` image id stands for, as RunInstances reads it.

    The caller needs ``ssm:GetParameters`` on the parameter (EC2 reads it as the caller); the value must be
    an AMI id. EC2's InvalidParameterValue otherwise (an unknown parameter, version or label included).
    """
    if not reference.startswith(RESOLVE_PREFIX):
        return reference
    try:
        item, _ = records.selected(replace(ctx, service="ssm", operation="GetParameters"),
                                   reference[len(RESOLVE_PREFIX):])
    except ServiceError as exc:
        raise invalid_value(reference, "imageId", f"The Systems Manager parameter could not be read: "
                                                  f"{exc.code}: {exc.message}") from None
    check_action(replace(ctx, service="ssm", operation="GetParameters", audit_resources=[]), "ssm:GetParameters",
                 [item.arn])
    if item.type != "String" or not _AMI_ID.match(item.value):
        raise invalid_value(reference, "imageId", "The Systems Manager parameter's value is not an AMI id.")
    return item.value
