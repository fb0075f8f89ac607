"""An invoke URL's request to the pipeline of its API.

API ids are one namespace across REST and HTTP APIs, as on AWS: a REST API's requests go to
:mod:`controller.execute_api.rest.pipeline`, an HTTP API's to :mod:`controller.execute_api.http_pipeline`,
and an unknown id answers 403 ``{"message":"Forbidden"}`` as AWS does.
"""

from __future__ import annotations

import logging
from typing import Any

from controller.apigateway.snapshot import rest_api_exists
from controller.apigatewayv2.lookup import http_api_exists
from controller.execute_api import http_pipeline
from controller.execute_api.request import InvokeRequest, InvokeResponse
from controller.execute_api.rest import pipeline, responses

log = logging.getLogger(__name__)


def dispatch(cloud: Any, request: InvokeRequest) -> InvokeResponse:
    """The API's answer; a fault in the gateway itself is logged and answered as API Gateway's own 500."""
    try:
        if rest_api_exists(cloud, request.api_id):
            return pipeline.handle(cloud, request)
        if http_api_exists(cloud, request.api_id):
            return http_pipeline.handle(cloud, request)
        return responses.forbidden()
    except Exception:
        log.exception("execute-api: internal error serving %s %s of API %s", request.method, request.path,
                      request.api_id)
        return InvokeResponse(500, [("Content-Type", "application/json"),
                                    ("x-amzn-ErrorType", "InternalServerErrorException")],
                              b'{"message":"Internal server error"}')
