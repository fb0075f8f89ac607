"""Pure rules of Systems Manager documents: names, the request members the service checks itself, and content.

SSM's protocol layer checks only required members (``controller.protocol.faults``), so the patterns and enums
of the document calls are checked here, with Coral's wording. A document's content is JSON or YAML (``TEXT``
is kept as written, for the types that use it); every JSON/YAML document must parse to a mapping, because
GetDocument converts between the two formats. Only ``Command`` and ``Session`` documents are validated
further, as AWS's user guide describes them: a Command document has schemaVersion 1.2 (``runtimeConfig``) or
2.0/2.2 (``mainSteps``), a Session document schemaVersion 1.0 and a ``sessionType``. Content is at most 64 KB
(the user guide's limit for creating a document).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from controller.errors import error
from controller.ssm.names import ValidationException

InvalidDocumentContent = error("InvalidDocumentContent")
InvalidFilterKey = error("InvalidFilterKey")
InvalidDocumentSchemaVersion = error("InvalidDocumentSchemaVersion")
MaxDocumentSizeExceeded = error("MaxDocumentSizeExceeded")

MAX_CONTENT_BYTES = 64 * 1024
#: More nodes than this once YAML aliases are expanded: a "billion laughs" document, refused before it is
#: walked or converted (the content limit alone does not bound what aliases expand to).
MAX_NODES = 100_000
MAX_DEPTH = 64
NAME_PATTERN = r"^[a-zA-Z0-9_\-.]{3,128}$"
VERSION_NAME_PATTERN = r"^[a-zA-Z0-9_\-.]{1,128}$"
VERSION_PATTERN = r"([$]LATEST|[$]DEFAULT|^[1-9][0-9]*$)"
VERSION_NUMBER_PATTERN = r"(^[1-9][0-9]*$)"
TARGET_TYPE_PATTERN = r"^\/[\w\.\-\:\/]*$"
DISPLAY_NAME_PATTERN = r"^[\w\.\-\:\/ ]*$"
_RESERVED = ("aws", "amazon", "amzn")
DOCUMENT_TYPES = ("Command", "Policy", "Automation", "Session", "Package", "ApplicationConfiguration",
                  "ApplicationConfigurationSchema", "DeploymentStrategy", "ChangeCalendar",
                  "Automation.ChangeTemplate", "ProblemAnalysis", "ProblemAnalysisTemplate", "CloudFormation",
                  "ConformancePackTemplate", "QuickSetup", "ManualApprovalPolicy", "AutoApprovalPolicy")
FORMATS = ("YAML", "JSON", "TEXT")
COMMAND_SCHEMAS = ("1.2", "2.0", "2.2")
SESSION_TYPES = ("Standard_Stream", "InteractiveCommands", "NonInteractiveCommands", "Port")
PARAMETER_TYPES = ("String", "StringList", "Boolean", "Integer", "MapList", "StringMap")
ALL_PLATFORMS = ["Windows", "Linux", "MacOS"]
#: The keys of ListDocuments' Filters besides ``tag:<key>``, and of its older DocumentFilterList.
FILTER_KEYS = ("Owner", "Name", "DocumentType", "PlatformTypes", "TargetType", "SearchKeyword", "TagKeys")
LEGACY_FILTER_KEYS = ("Name", "Owner", "PlatformTypes", "DocumentType")
#: The Run Command plugins that run on some platforms only (the rest run anywhere the agent does).
_PLUGIN_PLATFORMS = {"aws:runShellScript": ["Linux", "MacOS"],
                     "aws:runPowerShellScript": ["Windows", "Linux"]}
#: The session preferences (``SSM-SessionManagerRunShell``'s ``inputs``) and the types they take.
_PREFERENCE_TYPES: dict[str, tuple[type, ...]] = {
    "s3BucketName": (str,), "s3KeyPrefix": (str,), "s3EncryptionEnabled": (bool,), "kmsKeyId": (str,),
    "cloudWatchLogGroupName": (str,), "cloudWatchEncryptionEnabled": (bool,),
    "cloudWatchStreamingEnabled": (bool,), "idleSessionTimeout": (str, int), "maxSessionDuration": (str, int),
    "runAsEnabled": (bool,), "runAsDefaultUser": (str,), "shellProfile": (dict,)}


def coral(value: Any, member: str, constraint: str) -> ValidationException:
    """The ValidationException a Coral service answers for one member breaking one constraint."""
    return ValidationException(f"1 validation error detected: Value '{value}' at '{member}' failed to "
                               f"satisfy constraint: {constraint}")


def check_pattern(value: str | None, member: str, pattern: str, max_length: int | None = None) -> None:
    """ValidationException unless ``value`` (when given) fully matches the model's ``pattern``."""
    if value is None:
        return
    if max_length is not None and len(value) > max_length:
        raise coral(value, member, f"Member must have length less than or equal to {max_length}")
    if re.fullmatch(pattern, value, re.ASCII) is None:
        raise coral(value, member, f"Member must satisfy regular expression pattern: {pattern}")


def check_enum(value: str | None, member: str, allowed: tuple[str, ...]) -> None:
    if value is not None and value not in allowed:
        raise coral(value, member, f"Member must satisfy enum value set: [{', '.join(allowed)}]")


def is_reserved(name: str) -> bool:
    """Whether ``name`` begins with a prefix AWS keeps for its own documents (any case)."""
    return name.lower().startswith(_RESERVED)


def check_name(name: str) -> None:
    """ValidationException unless the account may create a document called ``name``."""
    check_pattern(name, "name", NAME_PATTERN)
    if is_reserved(name):
        raise ValidationException("Document name can't be prefixed with \"aws\", \"amazon\" or \"amzn\" "
                                  "(case-insensitive): those prefixes are reserved for AWS's documents.")


def content_hash(content: str) -> str:
    """The document's Hash (HashType Sha256), as DescribeDocument shows it."""
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


class _Loader(yaml.SafeLoader):
    """YAML 1.1's safe loader without its timestamp rule: a date stays text, so every document converts to
    JSON (a ``datetime`` would not)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def _invalid(reason: str) -> InvalidDocumentContent:
    return InvalidDocumentContent(f"The content for the document is not valid: {reason}")


def parse(content: str, document_format: str) -> dict[str, Any]:
    """The document ``content`` holds in ``document_format`` (JSON or YAML), as a mapping;
    InvalidDocumentContent when it is not one."""
    try:
        # _Loader is a SafeLoader: YAML can build no Python objects but plain data.
        body = yaml.load(content, Loader=_Loader) if document_format == "YAML" else json.loads(content)
    except (ValueError, yaml.YAMLError, RecursionError) as exc:
        raise _invalid(f"it is not well-formed {document_format}.") from exc
    if not isinstance(body, dict):
        raise _invalid(f"the {document_format} content must be an object.")
    _check_nodes(body)
    return body


def _check_nodes(body: dict[str, Any]) -> None:
    """Refuse content that expands past :data:`MAX_NODES` (or refers to itself) through YAML aliases, nests
    deeper than :data:`MAX_DEPTH` (converting it would exhaust the recursion the YAML and JSON writers use),
    holds text that is not Unicode (a lone surrogate) or a value JSON has no form for (YAML's binary)."""
    pending: list[tuple[Any, int]] = [(body, 1)]
    seen = 0
    while pending:
        node, depth = pending.pop()
        seen += 1
        if seen > MAX_NODES:
            raise _invalid("it has too many elements once its aliases are expanded.")
        if depth > MAX_DEPTH:
            raise _invalid(f"it nests deeper than {MAX_DEPTH} levels.")
        if isinstance(node, dict):
            pending.extend((item, depth + 1) for pair in node.items() for item in pair)
        elif isinstance(node, list):
            pending.extend((item, depth + 1) for item in node)
        elif isinstance(node, str):
            try:
                node.encode("utf-8")
            except UnicodeEncodeError:
                raise _invalid("it holds text that is not Unicode.") from None
        elif not (node is None or isinstance(node, bool | int | float)):
            raise _invalid(f"it holds a value of a type documents can't hold ({type(node).__name__}).")


def render(body: dict[str, Any] | None, content: str, stored_format: str, wanted_format: str) -> str:
    """The content GetDocument returns in ``wanted_format``: as written when the formats agree, else converted
    (TEXT content converts to nothing: ValidationException)."""
    if wanted_format == stored_format:
        return content
    if body is None or "TEXT" in (stored_format, wanted_format):
        raise ValidationException(f"The document content can't be converted from {stored_format} to "
                                  f"{wanted_format}.")
    if wanted_format == "YAML":
        return yaml.safe_dump(body, sort_keys=False, allow_unicode=True, default_flow_style=False)
    return json.dumps(body, indent=2, ensure_ascii=False)


@dataclass(frozen=True)
class Facts:
    """What DescribeDocument and ListDocuments show of one version's content."""

    schema_version: str | None = None
    description: str | None = None
    parameters: list[dict[str, str]] = field(default_factory=list)
    platform_types: list[str] = field(default_factory=lambda: list(ALL_PLATFORMS))

    def as_json(self) -> dict[str, Any]:
        return {"schema_version": self.schema_version, "description": self.description,
                "parameters": self.parameters, "platform_types": self.platform_types}


def check_size(content: str) -> None:
    if len(content.encode("utf-8")) > MAX_CONTENT_BYTES:
        raise MaxDocumentSizeExceeded(f"The content of the document exceeds the maximum size of "
                                      f"{MAX_CONTENT_BYTES // 1024} KB.")


def examine(content: str, document_format: str, document_type: str) -> tuple[dict[str, Any] | None, Facts]:
    """Check ``content`` as a document of ``document_type`` and return its parsed body (None for TEXT) and the
    facts shown of it; MaxDocumentSizeExceeded, InvalidDocumentContent or ValidationException when refused."""
    if not content:
        raise coral(content, "content", "Member must have length greater than or equal to 1")
    check_size(content)
    if document_format == "TEXT":
        if document_type in ("Command", "Session"):
            raise _invalid(f"{document_type} documents are JSON or YAML.")
        return None, Facts()
    body = parse(content, document_format)
    schema = _schema_version(body)
    if document_type == "Command":
        _check_command(body, schema)
    elif document_type == "Session":
        _check_session(body, schema)
    description = body.get("description")
    return body, Facts(schema_version=schema,
                       description=description if isinstance(description, str) else None,
                       parameters=_parameters(body, strict=document_type in ("Command", "Session")),
                       platform_types=_platforms(body, document_type))


def _schema_version(body: dict[str, Any]) -> str | None:
    """schemaVersion as text: YAML reads an unquoted ``2.2`` as a number, which AWS takes as the same."""
    value = body.get("schemaVersion")
    if isinstance(value, bool) or value is None:
        return None
    text = str(value) if isinstance(value, int | float | str) else None
    return text if text is not None and re.fullmatch(r"[0-9]+\.[0-9]+", text) else None


def _check_command(body: dict[str, Any], schema: str | None) -> None:
    if schema not in COMMAND_SCHEMAS:
        raise _invalid(f"Command documents need a schemaVersion of {', '.join(COMMAND_SCHEMAS)}, not "
                       f"{body.get('schemaVersion')!r}.")
    if schema == "1.2":
        config = body.get("runtimeConfig")
        if not isinstance(config, dict) or not config:
            raise _invalid("a schemaVersion 1.2 Command document needs a runtimeConfig with a plugin.")
        if not all(isinstance(plugin, dict) for plugin in config.values()):
            raise _invalid("each plugin of runtimeConfig must be an object.")
        return
    steps = body.get("mainSteps")
    if not isinstance(steps, list) or not steps:
        raise _invalid(f"a schemaVersion {schema} Command document needs mainSteps with at least one step.")
    names: set[str] = set()
    for step in steps:
        if not isinstance(step, dict) or not isinstance(step.get("action"), str) \
                or not isinstance(step.get("name"), str) or not step["name"]:
            raise _invalid("each step of mainSteps needs an action and a name.")
        if step["name"] in names:
            raise _invalid(f"the step name {step['name']} is used more than once.")
        names.add(step["name"])
        if "inputs" in step and not isinstance(step["inputs"], dict):
            raise _invalid(f"the inputs of step {step['name']} must be an object.")


def _check_session(body: dict[str, Any], schema: str | None) -> None:
    if schema != "1.0":
        raise _invalid(f"Session documents need schemaVersion 1.0, not {body.get('schemaVersion')!r}.")
    session_type = body.get("sessionType")
    if session_type is None:
        raise _invalid("a Session document needs a sessionType.")
    if session_type not in SESSION_TYPES:
        raise _invalid(f"sessionType must be one of {', '.join(SESSION_TYPES)}, not {session_type!r}.")
    for section in ("inputs", "properties"):
        if section in body and not isinstance(body[section], dict):
            raise _invalid(f"the {section} of a Session document must be an object.")
    if session_type == "Standard_Stream":
        _check_preferences(body.get("inputs") or {})


def _check_preferences(inputs: dict[str, Any]) -> None:
    """The session preferences a Standard_Stream document holds: known keys of the right types, and the
    timeouts within AWS's bounds (idle 1-60 minutes, a session at most 1440)."""
    for key, value in inputs.items():
        expected = _PREFERENCE_TYPES.get(key)
        if expected is None:
            raise _invalid(f"{key} is not a session preference.")
        if isinstance(value, bool) and bool not in expected or not isinstance(value, expected):
            raise _invalid(f"the session preference {key} has a value of the wrong type.")
    for key, high, empty_ok in (("idleSessionTimeout", 60, False), ("maxSessionDuration", 1440, True)):
        value = str(inputs.get(key, "")).strip()
        if value == "" and (empty_ok or key not in inputs):
            continue
        if not value.isdigit() or not 1 <= int(value) <= high:
            raise _invalid(f"{key} must be a number of minutes from 1 to {high}.")
    profile = inputs.get("shellProfile", {})
    if set(profile) - {"linux", "windows"} or not all(isinstance(text, str) for text in profile.values()):
        raise _invalid("shellProfile holds the linux and windows profiles, as text.")


def _parameters(body: dict[str, Any], strict: bool) -> list[dict[str, str]]:
    """The document's parameters as DescribeDocument lists them (DefaultValue as text: JSON for lists and
    maps). ``strict`` (Command and Session documents): a parameter without a known type is refused."""
    declared = body.get("parameters")
    if declared is None:
        return []
    if not isinstance(declared, dict):
        if strict:
            raise _invalid("parameters must be an object.")
        return []
    listed: list[dict[str, str]] = []
    for name, spec in declared.items():
        if not isinstance(spec, dict) or spec.get("type") not in PARAMETER_TYPES:
            if strict:
                raise _invalid(f"parameter {name} needs a type of {', '.join(PARAMETER_TYPES)}.")
            continue
        item = {"Name": str(name), "Type": spec["type"]}
        if isinstance(spec.get("description"), str):
            item["Description"] = spec["description"]
        if "default" in spec:
            default = spec["default"]
            item["DefaultValue"] = default if isinstance(default, str) else json.dumps(default)
        listed.append(item)
    return listed


def _platforms(body: dict[str, Any], document_type: str) -> list[str]:
    """The platforms a Command document's plugins run on (AWS derives PlatformTypes from them); every
    platform for the other types."""
    if document_type != "Command":
        return list(ALL_PLATFORMS)
    if isinstance(body.get("runtimeConfig"), dict):
        plugins = list(body["runtimeConfig"])
    else:
        plugins = [step.get("action") for step in body.get("mainSteps", []) if isinstance(step, dict)]
    platforms: set[str] = set()
    for plugin in plugins:
        platforms.update(_PLUGIN_PLATFORMS.get(plugin, ALL_PLATFORMS) if isinstance(plugin, str) else [])
    return [platform for platform in ALL_PLATFORMS if platform in platforms] or list(ALL_PLATFORMS)


def session_inputs(body: dict[str, Any] | None) -> dict[str, Any]:
    """The ``inputs`` of a Session document's content ({} when it has none)."""
    inputs = (body or {}).get("inputs")
    return dict(inputs) if isinstance(inputs, dict) else {}


def list_filters(params: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """ListDocuments' DocumentFilterList and Filters as (key, values); InvalidFilterKey for a key it does not
    know, ValidationException for more than one Owner (AWS takes one)."""
    chosen = [(item["key"], [item["value"]]) for item in params.get("DocumentFilterList", [])]
    for key, _ in chosen:
        if key not in LEGACY_FILTER_KEYS:
            raise InvalidFilterKey(f"The filter key {key} is not valid. Valid keys: "
                                   f"{', '.join(LEGACY_FILTER_KEYS)}.")
    for item in params.get("Filters", []):
        key = item.get("Key", "")
        if key not in FILTER_KEYS and not (key.startswith("tag:") and len(key) > 4):
            raise InvalidFilterKey(f"The filter key {key} is not valid. Valid keys: "
                                   f"{', '.join(FILTER_KEYS)} and tag:<key>.")
        chosen.append((key, list(item.get("Values", []))))
    if sum(len(values) for key, values in chosen if key == "Owner") > 1:
        raise ValidationException("Only one Owner can be specified in a request.")
    return chosen


def filter_matches(item: dict[str, Any], key: str, values: list[str], account_id: str) -> bool:
    """Whether a DocumentIdentifier passes one filter: any of its values (Name is a prefix; Owner ``Self`` and
    ``Private`` are the account's documents, ``Amazon`` AWS's, ``All`` every one; ``tag:<key>`` without values
    is any document with that tag)."""
    if key == "Owner":
        mine = item["Owner"] == account_id
        return any(value == "All" or (value in ("Self", "Private", account_id) and mine)
                   or (value == "Amazon" and item["Owner"] == "Amazon") for value in values)
    if key == "Name":
        return any(item["Name"].startswith(value) for value in values)
    if key == "SearchKeyword":
        text = f"{item['Name']} {item.get('DisplayName', '')}".lower()
        return any(value.lower() in text for value in values)
    if key == "PlatformTypes":
        return bool(set(values) & set(item["PlatformTypes"]))
    if key in ("DocumentType", "TargetType"):
        return item.get(key) in values
    tags = {tag["Key"]: tag["Value"] for tag in item["Tags"]}
    if key == "TagKeys":
        return any(value in tags for value in values)
    return key[4:] in tags and (not values or tags[key[4:]] in values)
