"""Calls to services and operations Cloudlet does not serve: authenticated, audited, and
refused in the called service's own protocol, so the caller's SDK parses the error.

Codes follow AWS's common errors (InvalidAction for the query protocols,
https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/CommonErrors.html) and the json
protocols' UnknownOperationException; signatures are checked as for every call
(SignatureDoesNotMatch, MissingAuthenticationToken).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import botocore.exceptions
import pytest
import requests

from controller.cloud import load_services
from controller.protocol import load_service_model
from tests.support import CloudletProcess, Credentials

# (client, method, kwargs, protocol its client speaks, error code)
UNSERVED = [
    ("dynamodb", "list_tables", {}, "json", "UnknownOperationException"),
    ("kinesis", "list_streams", {}, "json", "UnknownOperationException"),
    ("ses", "list_identities", {}, "query", "InvalidAction"),
    ("eks", "list_clusters", {}, "rest-json", "UnknownOperationException"),
    ("route53", "list_hosted_zones", {}, "rest-xml", "InvalidAction"),
    ("codebuild", "list_projects", {}, "json", "UnknownOperationException"),
]


def call_error(client: Any, method: str, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        getattr(client, method)(**kwargs)
    return excinfo.value.response


def audited(cloudlet: CloudletProcess, request_id: str, event_source: str, since: dt.datetime) -> dict[str, Any]:
    events = cloudlet.client("cloudtrail").lookup_events(StartTime=since, LookupAttributes=[
        {"AttributeKey": "EventSource", "AttributeValue": event_source}])["Events"]
    documents = [json.loads(event["CloudTrailEvent"]) for event in events]
    found = [document for document in documents if document["requestID"] == request_id]
    assert found, f"{request_id} not in the trail for {event_source}"
    return found[0]


@pytest.mark.parametrize(("service", "method", "kwargs", "wire", "code"), UNSERVED,
                         ids=[f"{row[0]}-{row[3]}" for row in UNSERVED])
def test_unserved_service_answers_in_its_protocol_and_is_audited(
        cloudlet: CloudletProcess, service: str, method: str, kwargs: dict[str, Any], wire: str, code: str) -> None:
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2)
    client = cloudlet.client(service)
    response = call_error(client, method, **kwargs)
    assert response["Error"]["Code"] == code, response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    operation = client.meta.method_to_api_mapping[method]
    assert operation in response["Error"]["Message"] and "does not serve" in response["Error"]["Message"]
    event = audited(cloudlet, response["ResponseMetadata"]["RequestId"],
                    f"{client.meta.service_model.signing_name}.amazonaws.com", since)
    assert event["eventName"] == operation
    assert event["errorCode"] == code
    assert event["userIdentity"]["accessKeyId"] == cloudlet.root_credentials().access_key_id


@pytest.mark.parametrize("service", ["dynamodb", "sns", "eks", "cloudwatch"])
def test_unserved_service_checks_the_signature(cloudlet: CloudletProcess, service: str) -> None:
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2)
    root = cloudlet.root_credentials()
    method = {"dynamodb": "list_tables", "sns": "list_topics", "eks": "list_clusters",
              "cloudwatch": "list_metrics"}[service]
    forged = cloudlet.client(service, Credentials(root.access_key_id, "x" * 40))
    response = call_error(forged, method)
    assert (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]) == (
        "SignatureDoesNotMatch", 403)
    event = audited(cloudlet, response["ResponseMetadata"]["RequestId"],
                    f"{forged.meta.service_model.signing_name}.amazonaws.com", since)
    assert event["errorCode"] == "SignatureDoesNotMatch"
    stranger = cloudlet.client(service, Credentials("AKIAAAAAAAAAAAAAAAAA", "y" * 40))
    response = call_error(stranger, method)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert response["Error"]["Code"] in ("InvalidClientTokenId", "UnrecognizedClientException")


def test_unsigned_call_to_unserved_service_is_refused_in_its_protocol(cloudlet: CloudletProcess) -> None:
    response = requests.post(cloudlet.endpoint, data=b"{}", timeout=10, headers={
        "x-amz-target": "DynamoDB_20120810.ListTables", "content-type": "application/x-amz-json-1.0"})
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/x-amz-json-1.0"
    assert response.json()["__type"].startswith("MissingAuthenticationToken")
    response = requests.post(cloudlet.endpoint, data=b"Action=ListTopics&Version=2010-03-31", timeout=10,
                             headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 403
    assert b"<ErrorResponse" in response.content and b"<Code>MissingAuthenticationToken</Code>" in response.content


def unregistered_operation(client: Any, service: str) -> tuple[str, str]:
    """An operation of a served service that has no handler and needs no input: (name, client method)."""
    registered = load_services()[service].operations
    model = load_service_model(service)
    for method, name in sorted(client.meta.method_to_api_mapping.items()):
        shape = model.operation_model(name).input_shape
        if name not in registered and (shape is None or not shape.required_members):
            return name, method
    pytest.skip(f"every {service} operation without input is implemented")


@pytest.mark.parametrize(("service", "code"), [("ec2", "InvalidAction"), ("iam", "InvalidAction"),
                                               ("organizations", "UnknownOperationException")])
def test_unimplemented_operation_of_served_service_is_a_client_error(
        cloudlet: CloudletProcess, service: str, code: str) -> None:
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2)
    client = cloudlet.client(service)
    operation, method = unregistered_operation(client, service)
    response = call_error(client, method)
    assert (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]) == (code, 400)
    assert "does not implement" in response["Error"]["Message"]
    event = audited(cloudlet, response["ResponseMetadata"]["RequestId"], f"{service}.amazonaws.com", since)
    assert (event["eventName"], event["errorCode"]) == (operation, code)
