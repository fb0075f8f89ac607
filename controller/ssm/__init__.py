"""ssm: Parameter Store. The package's modules register their operations on ``api`` when imported here."""

from controller.ec2 import image_references
from controller.ssm import describe, labels, reads, resolve, state, tags, writes  # noqa: F401  (register operations)
from controller.ssm.service import api

#: A parameter's tags are what IAM reads as ``aws:ResourceTag/*``.
api.resource_lookup = tags.resource_info
#: RunInstances reads ``resolve:ssm:`` image ids through Parameter Store.
image_references.RESOLVERS[resolve.RESOLVE_PREFIX] = resolve.resolve_image

__all__ = ["api"]
