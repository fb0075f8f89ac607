"""The AWS KMS ``ServiceApi``: every module of this package registers its operations on ``api``.

It lives apart from the package's ``__init__`` (which imports those modules to register them), so
no module imports the package that imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from controller.api import Handler, Params, RequestContext, ResourceMapper, ServiceApi


def without_nulls(value: Any) -> Any:
    """The input with JSON ``null`` list items and map values left out, as absent (pure).

    The protocol layer lets nulls inside lists and maps through (services differ there); KMS's
    operations read them as absent rather than meet a None where the model promises a string.
    """
    if isinstance(value, dict):
        return {key: without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [without_nulls(item) for item in value if item is not None]
    return value


class KmsApi(ServiceApi):
    """KMS's operations, whose handlers and resource mappers see their input :func:`without_nulls`."""

    def operation(self, name: str, *, resources: ResourceMapper | None = None, authorize: bool = True,
                  action: str | None = None) -> Callable[[Handler], Handler]:
        mapper = None
        if resources is not None:
            def mapper(ctx: RequestContext, params: Params, resources: ResourceMapper = resources) -> list[str]:
                return resources(ctx, without_nulls(params))
        register = super().operation(name, resources=mapper, authorize=authorize, action=action)

        def wrap(handler: Handler) -> Handler:
            register(lambda ctx, params: handler(ctx, without_nulls(params)))
            return handler

        return wrap


api = KmsApi("kms")
