"""apigateway: the package's modules register their operations on ``api`` when imported here."""

from controller.apigateway import snapshot, state  # noqa: F401
from controller.apigateway.service import api

__all__ = ["api"]
