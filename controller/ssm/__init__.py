"""ssm: Parameter Store. The package's modules register their operations on ``api`` when imported here."""

from controller.ssm import describe, labels, reads, state, tags, writes  # noqa: F401  (register operations)
from controller.ssm.service import api

#: A parameter's tags are what IAM reads as ``aws:ResourceTag/*``.
api.resource_lookup = tags.resource_info

__all__ = ["api"]
