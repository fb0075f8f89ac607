"""ssm: Parameter Store, and the fleet: hybrid activations, managed instances and Run Command. The package's
modules register their operations on ``api`` when imported here."""

from controller.ec2 import image_references
from controller.ssm import (  # noqa: F401  (register operations)
    activations,
    command_reads,
    commands,
    describe,
    documents,
    instance_information,
    labels,
    reads,
    registration,
    resolve,
    sessions,
    state,
    tags,
    writes,
)
from controller.ssm.service import api

#: A parameter's tags are what IAM reads as ``aws:ResourceTag/*``.
api.resource_lookup = tags.resource_info
#: RunInstances reads ``resolve:ssm:`` image ids through Parameter Store.
image_references.RESOLVERS[resolve.RESOLVE_PREFIX] = resolve.resolve_image

__all__ = ["api"]
