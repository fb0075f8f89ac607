"""The query protocol of a service that moved to json, served from its json model (SQS).

SQS's current model speaks awsJson1_0 only, but older SDKs (and Celery's kombu, boto2, PHP v2...)
still send ``Action=SendMessage&...`` forms and read XML answers. botocore's json model keeps every
shape and the ``flattened`` traits, and lacks only the query wire names: list items, map keys and
some members were renamed (``SendMessageBatchRequestEntry.1.Id``, ``Attribute.1.Name``,
``MessageAttribute.1.Value.StringValue``). :func:`query_view` is the json model with those names
put back (from the 2012-11-05 query model botocore shipped until 2023), every output wrapped in its
``<OpResult>`` element and the protocol set to ``query``; the query reader and writer then parse
and serialize SQS exactly as for any query service. Nothing here writes XML.
"""

from __future__ import annotations

import copy
from typing import Any

from botocore.model import ServiceModel

from controller.protocol.http import HttpRequest
from controller.protocol.models import LOADER, cached_on, is_query_compatible
from controller.protocol.query import form_params

#: Per service: the query model's namespace and its wire names, by shape: a structure's member,
#: or ``member`` (list items), ``key``/``value`` (map entries).
_LEGACY: dict[str, dict[str, Any]] = {
    "sqs": {
        "xmlNamespace": "http://queue.amazonaws.com/doc/2012-11-05/",
        "names": {
            "AWSAccountIdList": {"member": "AWSAccountId"},
            "ActionNameList": {"member": "ActionName"},
            "AttributeNameList": {"member": "AttributeName"},
            "BatchResultErrorEntryList": {"member": "BatchResultErrorEntry"},
            "BinaryList": {"member": "BinaryListValue"},
            "ChangeMessageVisibilityBatchRequestEntryList": {"member": "ChangeMessageVisibilityBatchRequestEntry"},
            "ChangeMessageVisibilityBatchResultEntryList": {"member": "ChangeMessageVisibilityBatchResultEntry"},
            "CreateQueueRequest": {"Attributes": "Attribute", "tags": "Tag"},
            "DeleteMessageBatchRequestEntryList": {"member": "DeleteMessageBatchRequestEntry"},
            "DeleteMessageBatchResultEntryList": {"member": "DeleteMessageBatchResultEntry"},
            "GetQueueAttributesResult": {"Attributes": "Attribute"},
            "ListMessageMoveTasksResultEntryList": {"member": "ListMessageMoveTasksResultEntry"},
            "ListQueueTagsResult": {"Tags": "Tag"},
            "Message": {"Attributes": "Attribute", "MessageAttributes": "MessageAttribute"},
            "MessageAttributeNameList": {"member": "MessageAttributeName"},
            "MessageAttributeValue": {"StringListValues": "StringListValue", "BinaryListValues": "BinaryListValue"},
            "MessageBodyAttributeMap": {"key": "Name", "value": "Value"},
            "MessageBodySystemAttributeMap": {"key": "Name", "value": "Value"},
            "MessageList": {"member": "Message"},
            "MessageSystemAttributeMap": {"key": "Name", "value": "Value"},
            "MessageSystemAttributeValue": {"StringListValues": "StringListValue",
                                            "BinaryListValues": "BinaryListValue"},
            "QueueAttributeMap": {"key": "Name", "value": "Value"},
            "QueueUrlList": {"member": "QueueUrl"},
            "SendMessageBatchRequestEntry": {"MessageAttributes": "MessageAttribute",
                                             "MessageSystemAttributes": "MessageSystemAttribute"},
            "SendMessageBatchRequestEntryList": {"member": "SendMessageBatchRequestEntry"},
            "SendMessageBatchResultEntryList": {"member": "SendMessageBatchResultEntry"},
            "SendMessageRequest": {"MessageAttributes": "MessageAttribute",
                                   "MessageSystemAttributes": "MessageSystemAttribute"},
            "SetQueueAttributesRequest": {"Attributes": "Attribute"},
            "StringList": {"member": "StringListValue"},
            "TagKeyList": {"member": "TagKey"},
            "TagMap": {"key": "Key", "value": "Value"},
            "TagQueueRequest": {"Tags": "Tag"},
        },
    },
}


def speaks_query(service_model: ServiceModel, request: HttpRequest) -> bool:
    """Whether ``request`` is a query-protocol call to a json service that still serves query (SQS)."""
    return (is_query_compatible(service_model) and service_model.service_name in _LEGACY
            and not request.header("x-amz-target") and "Action" in form_params(request))


def query_view(service_model: ServiceModel) -> ServiceModel:
    """The service's json model as its query protocol names things (built once per model)."""
    return cached_on(service_model, "query_view", lambda: _build(service_model))


def _build(service_model: ServiceModel) -> ServiceModel:
    name = service_model.service_name
    legacy = _LEGACY[name]
    data = copy.deepcopy(LOADER.load_service_model(name, "service-2"))
    metadata = data["metadata"]
    for key in ("jsonVersion", "targetPrefix"):
        metadata.pop(key, None)
    metadata.update(protocol="query", protocols=["query"], xmlNamespace=legacy["xmlNamespace"])
    for operation_name, operation in data["operations"].items():
        if "output" in operation:
            operation["output"]["resultWrapper"] = f"{operation_name}Result"
    shapes = data["shapes"]
    for shape_name, names in legacy["names"].items():
        shape = shapes[shape_name]
        for part, wire_name in names.items():
            target = shape[part] if part in ("member", "key", "value") else shape["members"][part]
            target["locationName"] = wire_name
    return ServiceModel(data, service_name=name)
