"""execute-api: the data plane of API Gateway, serving REST and HTTP APIs' invoke URLs.

Not an AWS API with a botocore model: requests reach it by their Host
(``{api-id}.execute-api.{region}.{service domain}``) or by the path form
``/_cloudlet/execute-api/{api-id}/...`` (:mod:`controller.wsgi`), never through the gateway's protocol layer.
"""
