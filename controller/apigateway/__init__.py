"""apigateway: the package's modules register their operations on ``api`` when imported here."""

from controller.apigateway import (  # noqa: F401
    api_keys,
    authorizers,
    deployments,
    exports,
    gateway_responses,
    imports,
    integrations,
    methods,
    models,
    request_validators,
    resources,
    rest_apis,
    snapshot,
    stages,
    state,
    tags,
    usage_plans,
)
from controller.apigateway.service import api

__all__ = ["api"]
