"""apigatewayv2: the package's modules register their operations on ``api`` when imported here."""

from controller.apigatewayv2 import apis, authorizers, routes, stages, tags  # noqa: F401
from controller.apigatewayv2.service import api

__all__ = ["api"]
