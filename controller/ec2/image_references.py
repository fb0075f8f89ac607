"""Image ids that name an AMI indirectly, such as ``resolve:ssm:/aws/service/cloudlet/ami/cloudlet-tiny/latest``.

EC2 accepts them wherever RunInstances (or a launch template) takes an ``ImageId``, and reads the reference as the
caller. The service that can read one registers its resolver here by prefix when it is loaded (SSM registers
``resolve:ssm:``), so EC2 does not import the services that import it.
"""

from __future__ import annotations

from collections.abc import Callable

from controller.api import RequestContext

#: prefix -> resolver(ctx, reference) -> AMI id (or the error EC2 answers).
RESOLVERS: dict[str, Callable[[RequestContext, str], str]] = {}


def is_reference(image_id: object) -> bool:
    """Whether ``image_id`` is an indirect reference a registered resolver reads (not an ``ami-`` id)."""
    return isinstance(image_id, str) and any(image_id.startswith(prefix) for prefix in RESOLVERS)


def resolve(ctx: RequestContext, image_id: str) -> str:
    """The AMI id ``image_id`` stands for (itself when it is not a reference)."""
    for prefix, resolver in RESOLVERS.items():
        if image_id.startswith(prefix):
            return resolver(ctx, image_id)
    return image_id
