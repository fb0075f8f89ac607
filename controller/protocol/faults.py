"""Which errors a service sends for bad input, as a small table per service.

Parsing and validation report problems as :class:`InputError` (what is wrong, where, in
model terms); :func:`to_service_error` turns them into the :class:`ServiceError` the real
service would send. AWS services differ here: Coral services (IAM, STS, Lambda...) list
every violation in one ``ValidationError``/``ValidationException``; EC2 and SQS name the
first bad parameter in ``MissingParameter``/``InvalidParameterValue``; S3 says
``MalformedXML``/``InvalidArgument``; Organizations has ``InvalidInputException`` with a
``Reason``. Which constraints are enforced at all differs too (most services do not
enforce enums, EC2 and S3 enforce almost nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from controller.errors import ServiceError

ABSENT: Any = object()


class InputError(Exception):
    """One problem with a request value, before it is rendered as the service's error.

    ``kind`` is ``missing`` (required member absent), ``invalid`` (a text value that is not
    of the member's type), ``malformed`` (a body that does not parse, or JSON of the wrong
    type) or ``constraint`` (length, range, pattern or enum violated; ``constraint`` holds
    the Coral wording and ``reason`` the Organizations reason code). ``path`` holds
    ``(model segment, wire segment)`` pairs, filled in while the error unwinds.
    """

    def __init__(self, kind: str, detail: str = "", *, value: Any = ABSENT,
                 constraint: str = "", reason: str = "") -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.value = value
        self.constraint = constraint
        self.reason = reason
        self.path: list[tuple[str, str]] = []

    def under(self, model_segment: str, wire_segment: str) -> InputError:
        """Record that the problem sits inside ``model_segment``/``wire_segment`` (outermost last)."""
        self.path.insert(0, (model_segment, wire_segment))
        return self

    @property
    def model_path(self) -> str:
        """Coral's path: ``tags.1.member.key`` (members in lowerCamelCase)."""
        return ".".join(_lower_first(segment) for segment, _ in self.path)

    @property
    def wire_path(self) -> str:
        """The parameter as the client sent it: ``Filter.1.Name``, ``x-amz-acl``."""
        return ".".join(segment for _, segment in self.path if segment)


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


@dataclass(frozen=True)
class Rules:
    """How one service validates input and names the errors.

    ``style`` picks the error wording (``coral``, ``ec2``, ``sqs``, ``s3``,
    ``organizations``); the flags say which model constraints the service enforces.
    ``malformed_code`` is the code for unparseable bodies (and JSON of the wrong type).
    """

    style: str = "coral"
    length: bool = False
    value_range: bool = False
    pattern: bool = False
    enum: bool = False
    malformed_code: str = "SerializationException"
    #: The code of Coral validation errors when the service renames it (CloudWatch Logs answers
    #: ``InvalidParameterException`` with Coral's wording); empty means ValidationException/Error.
    validation_code: str = ""
    #: Shapes whose value range the service checks itself, because its configuration moves the
    #: bounds (STS session durations: ``CLOUDLET_MIN_SESSION_SECONDS`` shortens them for tests).
    service_ranges: frozenset[str] = frozenset()

    @property
    def checks_constraints(self) -> bool:
        return self.length or self.value_range or self.pattern or self.enum


_STRICT = {"length": True, "value_range": True, "pattern": True}

SERVICE_RULES: dict[str, Rules] = {
    "iam": Rules(**_STRICT, enum=True),
    "sts": Rules(**_STRICT, enum=True, service_ranges=frozenset({"roleDurationSecondsType",
                                                                 "durationSecondsType"})),
    "sns": Rules(),
    "ec2": Rules(style="ec2"),
    "sqs": Rules(style="sqs", malformed_code="InvalidParameterValue"),
    "s3": Rules(style="s3", malformed_code="MalformedXML"),
    "lambda": Rules(**_STRICT, enum=True, malformed_code="InvalidRequestContentException"),
    "cloudtrail": Rules(),
    "organizations": Rules(style="organizations", **_STRICT, enum=True),
    "kms": Rules(**_STRICT, enum=True),
    #: EFS validates its input against its model as a Coral service (MaxResults 0 is a ValidationException).
    "efs": Rules(**_STRICT, enum=True),
    #: CloudWatch Logs enforces its model and names every violation in an InvalidParameterException.
    "logs": Rules(**_STRICT, enum=True, validation_code="InvalidParameterException"),
    #: EC2 Instance Connect names every violation in an InvalidArgsException. Its AvailabilityZone pattern
    #: wants AWS's ``us-east-1a`` form and would refuse Cloudlet's ``home-1a``: the service checks the patterns
    #: of the other members itself (controller/ec2_instance_connect/send.py).
    "ec2-instance-connect": Rules(length=True, value_range=True, enum=True, validation_code="InvalidArgsException"),
}

DEFAULT_RULES = Rules()


def rules_for(service_name: str) -> Rules:
    return SERVICE_RULES.get(service_name, DEFAULT_RULES)


# SQS left the query protocol without recording its query error codes in the model; its
# clients still expect them in ``x-amzn-query-error`` (and botocore maps the exception
# class from the json ``__type``). Codes not listed are the same in both.
SQS_QUERY_CODES: dict[str, str] = {
    "QueueDoesNotExist": "AWS.SimpleQueueService.NonExistentQueue",
    "QueueNameExists": "QueueAlreadyExists",
    "QueueDeletedRecently": "AWS.SimpleQueueService.QueueDeletedRecently",
    "PurgeQueueInProgress": "AWS.SimpleQueueService.PurgeQueueInProgress",
    "MessageNotInflight": "AWS.SimpleQueueService.MessageNotInflight",
    "TooManyEntriesInBatchRequest": "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
    "EmptyBatchRequest": "AWS.SimpleQueueService.EmptyBatchRequest",
    "BatchEntryIdsNotDistinct": "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
    "BatchRequestTooLong": "AWS.SimpleQueueService.BatchRequestTooLong",
    "InvalidBatchEntryId": "AWS.SimpleQueueService.InvalidBatchEntryId",
    "UnsupportedOperation": "AWS.SimpleQueueService.UnsupportedOperation",
    "KmsAccessDenied": "KMS.AccessDeniedException",
    "KmsDisabled": "KMS.DisabledException",
    "KmsInvalidKeyUsage": "KMS.InvalidKeyUsageException",
    "KmsInvalidState": "KMS.InvalidStateException",
    "KmsNotFound": "KMS.NotFoundException",
    "KmsOptInRequired": "KMS.OptInRequired",
    "KmsThrottled": "KMS.ThrottlingException",
}

_ORGANIZATIONS_MESSAGES = {
    "INPUT_REQUIRED": "You must specify a value for all required parameters.",
    "MIN_LENGTH_EXCEEDED": "You provided a string parameter that is shorter than allowed.",
    "MAX_LENGTH_EXCEEDED": "You provided a string parameter that is longer than allowed.",
    "MIN_VALUE_EXCEEDED": "You provided a numeric parameter that has a smaller value than allowed.",
    "MAX_VALUE_EXCEEDED": "You provided a numeric parameter that has a larger value than allowed.",
    "INVALID_PATTERN": "You provided a value that does not match the required pattern.",
    "INVALID_ENUM": "You specified an invalid value.",
}


def _describe(value: Any) -> str:
    if value is ABSENT or value is None:
        return "null"
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, bool):
        value = str(value).lower()
    if isinstance(value, list):
        value = "[" + ", ".join(str(item) for item in value) + "]"
    return f"'{value}'"


def _coral_line(problem: InputError) -> str:
    constraint = problem.constraint or "Member must not be null"
    return f"Value {_describe(problem.value)} at '{problem.model_path}' failed to satisfy constraint: {constraint}"


def to_service_error(problems: list[InputError], rules: Rules, protocol: str) -> ServiceError:
    """The one error the service sends for ``problems`` (all of them, for Coral services)."""
    first = problems[0]
    if first.kind == "malformed":
        return _malformed(first, rules)
    style = rules.style
    if style == "coral":
        if first.kind == "invalid":
            return ServiceError(_coral_line(first), code="ValidationError" if protocol in ("query", "ec2")
                                else rules.malformed_code)
        count = len(problems)
        noun = "error" if count == 1 else "errors"
        message = f"{count} validation {noun} detected: " + "; ".join(_coral_line(p) for p in problems)
        code = rules.validation_code or ("ValidationError" if protocol in ("query", "ec2")
                                         else "ValidationException")
        return ServiceError(message, code=code)
    name = first.wire_path or first.model_path
    if style in ("ec2", "sqs"):
        if first.kind == "missing":
            suffix = "." if style == "sqs" else ""
            return ServiceError(f"The request must contain the parameter {name}{suffix}", code="MissingParameter")
        value = "" if first.value is ABSENT else first.value
        reason = first.detail or first.constraint
        if style == "ec2":
            return ServiceError(f"Value ({value}) for parameter {name} is invalid. {reason}".rstrip(),
                                code="InvalidParameterValue")
        return ServiceError(f"Value {value} for parameter {name} is invalid. Reason: {reason}.",
                            code="InvalidParameterValue")
    if style == "s3":
        if first.kind == "missing" and first.path and first.path[0][1].lower().startswith("x-amz"):
            return ServiceError(f"Missing required header for this request: {first.path[0][1]}",
                                code="InvalidRequest")
        if first.kind == "missing":
            return _malformed(first, rules)
        value = "" if first.value is ABSENT else str(first.value)
        return ServiceError(f"Invalid argument {name}: {first.detail or first.constraint}",
                            code="InvalidArgument", ArgumentName=name, ArgumentValue=value)
    reason = first.reason or ("INPUT_REQUIRED" if first.kind == "missing" else "INVALID_PATTERN")
    return ServiceError(_ORGANIZATIONS_MESSAGES.get(reason, first.detail), code="InvalidInputException",
                        Reason=reason)


def _malformed(problem: InputError, rules: Rules) -> ServiceError:
    code = rules.malformed_code
    if code == "MalformedXML":
        return ServiceError("The XML you provided was not well-formed or did not validate against our "
                            "published schema", code=code)
    if code == "InvalidRequestContentException":
        return ServiceError(f"Could not parse request body into json: {problem.detail}", code=code)
    if code == "InvalidParameterValue":
        return ServiceError(f"The request body is not valid: {problem.detail}", code=code)
    return ServiceError(problem.detail or "Start of structure or map found where not expected.", code=code)


def unknown_service_error(detail: str) -> ServiceError:
    """A request for no service this controller serves (AWS's edge answers like this)."""
    return ServiceError(detail, code="UnknownService", status=400)


def unknown_operation_error(protocol: str, service_name: str, action: str, method: str = "",
                            path: str = "") -> ServiceError:
    """What each protocol's services send for an operation they do not have."""
    if protocol in ("query", "ec2"):
        if not action:
            return ServiceError("Could not find operation: the request has no Action parameter.",
                                code="MissingAction")
        return ServiceError(f"The action {action} is not valid for this web service.", code="InvalidAction")
    if protocol in ("json", "smithy-rpc-v2-cbor"):
        return ServiceError(f"Unknown operation {action or '(none)'}", code="UnknownOperationException")
    if service_name == "s3":
        return ServiceError("The specified method is not allowed against this resource.",
                            code="MethodNotAllowed", status=405, Method=method,
                            ResourceType="OBJECT" if path.strip("/").count("/") else "BUCKET")
    return ServiceError(f"No operation matches {method} {path}", code="UnknownOperationException", status=404)


def unavailable_operation_error(protocol: str, service_name: str, operation: str, why: str) -> ServiceError:
    """A real operation this cloud cannot run, because its service or the operation is not served.

    Each protocol's services have one answer for an operation they do not offer, and clients
    parse it as such: ``InvalidAction`` (query, ec2, rest-xml), ``UnknownOperationException``
    (json, rest-json), and S3's own ``NotImplemented`` (501, "functionality not implemented").
    ``why`` says what Cloudlet lacks.
    """
    if service_name == "s3":
        return ServiceError(f"{operation} is not implemented: {why}", code="NotImplemented", status=501,
                            sender_fault=False)
    if protocol in ("query", "ec2", "rest-xml"):
        return ServiceError(f"The action {operation} is not valid for this web service: {why}",
                            code="InvalidAction")
    return ServiceError(f"Unknown operation {operation}: {why}", code="UnknownOperationException")
