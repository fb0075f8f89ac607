"""An invoke URL's request to the pipeline of its API.

API ids are one namespace across REST and HTTP APIs, as on AWS. HTTP APIs are served here; REST APIs' invoke
path is not built yet, and their ids answer like any unknown API: 403 ``{"message":"Forbidden"}``.
"""

from __future__ import annotations

from typing import Any

from controller.apigatewayv2.lookup import http_api_exists
from controller.execute_api import http_pipeline
from controller.execute_api.request import InvokeRequest, InvokeResponse


def dispatch(cloud: Any, request: InvokeRequest) -> InvokeResponse:
    if http_api_exists(cloud, request.api_id):
        return http_pipeline.handle(cloud, request)
    return InvokeResponse(403, [("Content-Type", "application/json"), ("x-amzn-ErrorType", "ForbiddenException")],
                          b'{"message":"Forbidden"}')
