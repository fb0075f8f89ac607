"""Reading OpenAPI documents with API Gateway's extensions into what ImportRestApi creates (pure)."""

from __future__ import annotations

import pytest

from controller.apigateway import openapi
from controller.errors import ServiceError

SWAGGER_YAML = b"""
swagger: "2.0"
info: {title: legacy, description: old style, version: 3}
x-amazon-apigateway-api-key-source: AUTHORIZER
x-amazon-apigateway-policy:
  Version: "2012-10-17"
  Statement: [{Effect: Allow, Principal: "*", Action: "execute-api:Invoke", Resource: "*"}]
securityDefinitions:
  tok:
    type: apiKey
    name: X-Token
    in: header
    x-amazon-apigateway-authorizer:
      type: token
      authorizerUri: arn:aws:apigateway:home-1:lambda:path/2015-03-31/functions/f/invocations
      authorizerResultTtlInSeconds: 60
  sigv4: {type: apiKey, name: Authorization, in: header, x-amazon-apigateway-authtype: awsSigv4}
paths:
  /items:
    parameters: [{name: page, in: query}]
    get:
      operationId: listItems
      security: [{tok: []}]
      parameters: [{name: X-Trace, in: header, required: true}]
      responses: {"200": {description: ok}}
      x-amazon-apigateway-integration:
        type: mock
        passthroughBehavior: when_no_templates
        requestTemplates: {application/json: '{"statusCode": 200}'}
        responses: {default: {statusCode: "200"}}
    post:
      security: [{sigv4: []}]
      x-amazon-apigateway-integration: {type: http_proxy, httpMethod: POST, uri: "http://example.com/items"}
"""


def test_swagger_yaml_with_a_token_authorizer() -> None:
    definition = openapi.read(openapi.load(SWAGGER_YAML))
    assert (definition.name, definition.description, definition.version) == ("legacy", "old style", "3")
    assert definition.api_key_source == "AUTHORIZER" and '"execute-api:Invoke"' in definition.policy
    assert definition.authorizers["tok"] == {
        "name": "tok", "type": "TOKEN", "authorizerResultTtlInSeconds": 60,
        "identitySource": "method.request.header.X-Token",
        "authorizerUri": "arn:aws:apigateway:home-1:lambda:path/2015-03-31/functions/f/invocations"}
    get = definition.paths["/items"]["GET"]
    assert get["authorizationType"] == "CUSTOM" and get["authorizerName"] == "tok"
    assert get["operationName"] == "listItems"
    assert get["requestParameters"] == {"method.request.querystring.page": False,
                                        "method.request.header.X-Trace": True}
    assert get["methodIntegration"]["type"] == "MOCK"
    assert get["methodIntegration"]["passthroughBehavior"] == "WHEN_NO_TEMPLATES"
    assert get["methodIntegration"]["integrationResponses"] == {"200": {"statusCode": "200"}}
    post = definition.paths["/items"]["POST"]
    assert post["authorizationType"] == "AWS_IAM" and post["methodIntegration"]["type"] == "HTTP_PROXY"
    assert definition.warnings == []


@pytest.mark.parametrize("body", [b"", b"{broken", b"- a list\n", b'{"info": {"title": "x"}}',
                                  b'{"openapi": "3.0.0", "info": {}}', b"\xff\xfe",
                                  b'{"openapi": "3.0.0", "info": {"title": "x"}, "paths": {"nope": {}}}'])
def test_documents_that_are_not_openapi_are_bad_requests(body: bytes) -> None:
    with pytest.raises(ServiceError) as excinfo:
        openapi.read(openapi.load(body))
    assert excinfo.value.code == "BadRequestException"


def test_a_method_without_integration_is_a_warning() -> None:
    definition = openapi.read({"openapi": "3.0.0", "info": {"title": "t"},
                               "paths": {"/a": {"delete": {"responses": {"204": {}}}}}})
    assert definition.warnings == ["No integration defined for method DELETE /a"]
    assert definition.paths["/a"]["DELETE"]["methodResponses"] == {"204": {"statusCode": "204"}}
