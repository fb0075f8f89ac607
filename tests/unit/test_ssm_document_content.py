"""Systems Manager documents' pure rules (names, content checks, format conversion, ListDocuments' filters),
AWS's own documents, and the accessors Session Manager and Run Command read documents through."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from controller.cloud import Cloud
from controller.config import Config
from controller.errors import ServiceError
from controller.ssm import aws_documents, document_content
from controller.ssm.document_content import examine, filter_matches, list_filters, parse, render
from controller.ssm.document_state import command_document, session_preferences
from tests.unit.harness import ACCOUNT, CloudHarness

COMMAND: dict[str, Any] = {
    "schemaVersion": "2.2", "description": "Hello.",
    "parameters": {"who": {"type": "String", "default": "world", "description": "Whom."},
                   "flags": {"type": "StringList", "default": ["-v"]}, "count": {"type": "Integer", "default": 3}},
    "mainSteps": [{"action": "aws:runShellScript", "name": "hello", "inputs": {"runCommand": ["echo hi"]}}]}
LEGACY: dict[str, Any] = {"schemaVersion": "1.2", "runtimeConfig": {"aws:runPowerShellScript": {"properties": [
    {"id": "0.aws:runPowerShellScript", "runCommand": ["dir"]}]}}}
PREFERENCES: dict[str, Any] = {"schemaVersion": "1.0", "sessionType": "Standard_Stream", "inputs": {
    "s3BucketName": "logs", "s3EncryptionEnabled": True, "idleSessionTimeout": "20", "maxSessionDuration": "",
    "runAsEnabled": False, "runAsDefaultUser": "", "shellProfile": {"linux": "bash", "windows": ""}}}


def code_of(call: Any, *args: Any) -> str:
    with pytest.raises(ServiceError) as excinfo:
        call(*args)
    return excinfo.value.code


@pytest.mark.parametrize("name", ["abc", "My_Doc-1.0", "SSM-SessionManagerRunShell", "x" * 128, "a.b"])
def test_names_the_account_may_use(name: str) -> None:
    document_content.check_name(name)


@pytest.mark.parametrize("name", ["ab", "x" * 129, "has space", "slash/name", "AWS-Mine", "aws", "awsome",
                                  "Amazon-Linux", "AMAZONx", "amzn.doc", "AmZn_x", ""])
def test_names_refused(name: str) -> None:
    assert code_of(document_content.check_name, name) == "ValidationException"


def test_command_documents_facts() -> None:
    body, facts = examine(json.dumps(COMMAND), "JSON", "Command")
    assert body == COMMAND
    assert (facts.schema_version, facts.description, facts.platform_types) == ("2.2", "Hello.", ["Linux", "MacOS"])
    assert facts.parameters == [
        {"Name": "who", "Type": "String", "Description": "Whom.", "DefaultValue": "world"},
        {"Name": "flags", "Type": "StringList", "DefaultValue": '["-v"]'},
        {"Name": "count", "Type": "Integer", "DefaultValue": "3"}]
    _, legacy = examine(json.dumps(LEGACY), "JSON", "Command")
    assert (legacy.schema_version, legacy.platform_types, legacy.parameters) == ("1.2", ["Windows", "Linux"], [])
    other = {**COMMAND, "mainSteps": [{"action": "aws:downloadContent", "name": "get"}]}
    assert examine(json.dumps(other), "JSON", "Command")[1].platform_types == ["Windows", "Linux", "MacOS"]


def test_yaml_reads_unquoted_schema_versions_and_keeps_dates_as_text() -> None:
    text = "schemaVersion: 2.2\ndescription: 2024-01-31\nmainSteps:\n- action: aws:runShellScript\n  name: a\n"
    body, facts = examine(text, "YAML", "Command")
    assert facts.schema_version == "2.2" and body["description"] == "2024-01-31"
    assert json.loads(render(body, text, "YAML", "JSON"))["description"] == "2024-01-31"


@pytest.mark.parametrize(("content", "document_format"), [
    ("{not json", "JSON"), ("[1, 2]", "JSON"), ('"text"', "JSON"), ("a: [b", "YAML"), ("- a\n- b\n", "YAML"),
    (json.dumps({"mainSteps": COMMAND["mainSteps"]}), "JSON"),                       # no schemaVersion
    (json.dumps({**COMMAND, "schemaVersion": "0.3"}), "JSON"),                     # Automation's schema
    (json.dumps({**COMMAND, "schemaVersion": True}), "JSON"),
    (json.dumps({"schemaVersion": "2.2"}), "JSON"),                                # no mainSteps
    (json.dumps({**COMMAND, "mainSteps": []}), "JSON"),
    (json.dumps({**COMMAND, "mainSteps": [{"name": "x"}]}), "JSON"),               # a step without an action
    (json.dumps({**COMMAND, "mainSteps": [COMMAND["mainSteps"][0]] * 2}), "JSON"),  # the same name twice
    (json.dumps({**COMMAND, "mainSteps": [{**COMMAND["mainSteps"][0], "inputs": []}]}), "JSON"),
    (json.dumps({"schemaVersion": "1.2"}), "JSON"),                                # no runtimeConfig
    (json.dumps({"schemaVersion": "1.2", "runtimeConfig": {"aws:runShellScript": []}}), "JSON"),
    (json.dumps({**COMMAND, "parameters": {"p": {"type": "Colour"}}}), "JSON"),
    (json.dumps({**COMMAND, "parameters": ["p"]}), "JSON"),
    ("echo hello", "TEXT"),
])
def test_invalid_command_content(content: str, document_format: str) -> None:
    assert code_of(examine, content, document_format, "Command") == "InvalidDocumentContent"


def test_content_size_and_emptiness() -> None:
    big = json.dumps({**COMMAND, "description": "x" * document_content.MAX_CONTENT_BYTES})
    assert code_of(examine, big, "JSON", "Command") == "MaxDocumentSizeExceeded"
    assert code_of(examine, big, "JSON", "Automation") == "MaxDocumentSizeExceeded"
    assert code_of(examine, "", "JSON", "Command") == "ValidationException"


def test_hostile_content_is_refused_not_crashed_on() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + level)}: &{chr(98 + level)} [*{chr(97 + level)}, *{chr(97 + level)}, *{chr(97 + level)}, "
        f"*{chr(97 + level)}, *{chr(97 + level)}, *{chr(97 + level)}, *{chr(97 + level)}]\n" for level in range(9))
    deep = "[" * 500 + "]" * 500
    for content, document_format in ((bomb, "YAML"), (f'{{"a": {deep}}}', "JSON"), ("a: !!binary aGk=", "YAML"),
                                     ('{"a": "\\ud800"}', "JSON"), ("a: !!set {b: null}", "YAML"),
                                     ("[" * 100_000, "JSON"), ("&a [*a]", "YAML"), ("a: &x [*x]", "YAML")):
        assert code_of(parse, content, document_format) == "InvalidDocumentContent", content[:40]


def test_session_documents() -> None:
    body, facts = examine(json.dumps(PREFERENCES), "JSON", "Session")
    assert (facts.schema_version, facts.platform_types) == ("1.0", ["Windows", "Linux", "MacOS"])
    assert document_content.session_inputs(body) == PREFERENCES["inputs"]
    assert document_content.session_inputs({"inputs": "x"}) == {} == document_content.session_inputs(None)
    port = json.loads(aws_documents.PORT_FORWARDING)
    assert examine(json.dumps(port), "JSON", "Session")[1].parameters[0]["Name"] == "portNumber"
    inputs = PREFERENCES["inputs"]
    for bad in ({"sessionType": None}, {"sessionType": "Telnet"}, {"schemaVersion": "2.2"},
                {"inputs": {**inputs, "idleSessionTimeout": "0"}}, {"inputs": {**inputs, "idleSessionTimeout": ""}},
                {"inputs": {**inputs, "maxSessionDuration": "1441"}}, {"inputs": {**inputs, "runAsEnabled": "yes"}},
                {"inputs": {**inputs, "s3BucketName": 3}}, {"inputs": {**inputs, "colour": "red"}},
                {"inputs": {**inputs, "shellProfile": {"mac": "zsh"}}}, {"inputs": ["x"]}, {"properties": 3}):
        content = json.dumps({key: value for key, value in {**PREFERENCES, **bad}.items() if value is not None})
        assert code_of(examine, content, "JSON", "Session") == "InvalidDocumentContent", bad
    examine(json.dumps({**PREFERENCES, "inputs": {**inputs, "idleSessionTimeout": 60}}), "JSON", "Session")


def test_other_types_only_need_to_parse() -> None:
    body, facts = examine(json.dumps({"schemaVersion": "0.3", "mainSteps": [{"weird": 1}], "parameters": 7}),
                          "JSON", "Automation")
    assert (facts.schema_version, facts.parameters, body["parameters"]) == ("0.3", [], 7)
    assert examine("BEGIN:VCALENDAR\nEND:VCALENDAR\n", "TEXT", "ChangeCalendar") == (None, document_content.Facts())
    assert code_of(examine, "not: [yaml", "YAML", "Policy") == "InvalidDocumentContent"


def test_render_converts_between_json_and_yaml() -> None:
    text = json.dumps(COMMAND)
    assert render(None, text, "JSON", "JSON") is text
    as_yaml = render(COMMAND, text, "JSON", "YAML")
    assert yaml.safe_load(as_yaml) == COMMAND
    assert json.loads(render(parse(as_yaml, "YAML"), as_yaml, "YAML", "JSON")) == COMMAND
    assert list(yaml.safe_load(as_yaml)) == list(COMMAND)   # keys keep their order
    for stored, wanted in (("TEXT", "JSON"), ("JSON", "TEXT"), ("YAML", "TEXT")):
        assert code_of(render, COMMAND, text, stored, wanted) == "ValidationException"


def test_list_filters_and_matching() -> None:
    item = {"Name": "web-deploy", "Owner": ACCOUNT, "DocumentType": "Command", "PlatformTypes": ["Linux"],
            "DisplayName": "Deploy The Web", "Tags": [{"Key": "team", "Value": "web"}]}
    amazon = {**item, "Name": "AWS-RunShellScript", "Owner": "Amazon", "Tags": []}

    def passes(document: dict[str, Any], **params: Any) -> bool:
        return all(filter_matches(document, key, values, ACCOUNT) for key, values in list_filters(params))

    assert passes(item, Filters=[{"Key": "Name", "Values": ["web-"]}, {"Key": "tag:team", "Values": ["web"]}])
    assert not passes(item, Filters=[{"Key": "Name", "Values": ["deploy"]}])
    assert passes(item, Filters=[{"Key": "tag:team"}]) and not passes(amazon, Filters=[{"Key": "tag:team"}])
    assert passes(item, Filters=[{"Key": "TagKeys", "Values": ["nope", "team"]}])
    assert passes(item, Filters=[{"Key": "SearchKeyword", "Values": ["the web"]}])
    assert passes(item, Filters=[{"Key": "PlatformTypes", "Values": ["Windows", "Linux"]}])
    assert not passes(item, Filters=[{"Key": "DocumentType", "Values": ["Session"]}])
    assert passes(item, DocumentFilterList=[{"key": "DocumentType", "value": "Command"}])
    for owner, mine, theirs in (("Self", True, False), ("Private", True, False), ("Amazon", False, True),
                                ("All", True, True), (ACCOUNT, True, False), ("ThirdParty", False, False)):
        owned = {"Filters": [{"Key": "Owner", "Values": [owner]}]}
        assert (passes(item, **owned), passes(amazon, **owned)) == (mine, theirs), owner
    for params, code in (({"Filters": [{"Key": "Colour", "Values": ["red"]}]}, "InvalidFilterKey"),
                         ({"Filters": [{"Key": "tag:", "Values": ["x"]}]}, "InvalidFilterKey"),
                         ({"Filters": [{"Values": ["x"]}]}, "InvalidFilterKey"),
                         ({"DocumentFilterList": [{"key": "TargetType", "value": "/x"}]}, "InvalidFilterKey"),
                         ({"Filters": [{"Key": "Owner", "Values": ["Self", "Amazon"]}]}, "ValidationException")):
        assert code_of(list_filters, params) == code


def test_aws_documents_are_aws_content() -> None:
    shell = aws_documents.DOCUMENTS["AWS-RunShellScript"]
    assert shell.body["runtimeConfig"]["aws:runShellScript"]["properties"][0]["id"] == "0.aws:runShellScript"
    assert (shell.facts.schema_version, [item["Name"] for item in shell.facts.parameters]) == \
        ("1.2", ["commands", "workingDirectory", "executionTimeout"])
    assert shell.body["parameters"]["executionTimeout"]["default"] == "3600"
    for name in ("AWS-StartPortForwardingSession", "AWS-StartPortForwardingSessionToRemoteHost"):
        document = aws_documents.DOCUMENTS[name]
        assert (document.document_type, document.body["sessionType"], document.body["properties"]["type"]) == \
            ("Session", "Port", "LocalPortForwarding")
    assert set(aws_documents.DOCUMENTS["AWS-StartPortForwardingSessionToRemoteHost"].body["parameters"]) == \
        {"portNumber", "localPortNumber", "host"}
    assert all(document_content.is_reserved(name) for name in aws_documents.DOCUMENTS)


# --- the accessors, over a real Cloud's state store ---------------------------------------------------------

class SsmCloud(CloudHarness):
    service: ClassVar[str] = "ssm"


@pytest.fixture
def ssm(tmp_path: Path) -> Iterator[SsmCloud]:
    harness = SsmCloud(Cloud(Config(data_dir=tmp_path / "data")), ACCOUNT)
    try:
        yield harness
    finally:
        harness.close()


def test_session_preferences_are_the_default_versions_inputs(ssm: SsmCloud) -> None:
    region = ssm.config.region
    with ssm.db.read() as conn:
        assert session_preferences(conn, ACCOUNT, region) == {}
    name = "SSM-SessionManagerRunShell"
    ssm.call("CreateDocument", {"Name": name, "DocumentType": "Session", "Content": json.dumps(PREFERENCES)})
    later = {**PREFERENCES, "inputs": {**PREFERENCES["inputs"], "idleSessionTimeout": "45"}}
    ssm.call("UpdateDocument", {"Name": name, "Content": yaml.safe_dump(later), "DocumentFormat": "YAML"})
    with ssm.db.read() as conn:
        assert session_preferences(conn, ACCOUNT, region) == PREFERENCES["inputs"]   # version 1 is the default
        assert session_preferences(conn, "999999999999", region) == {}
    ssm.call("UpdateDocumentDefaultVersion", {"Name": name, "DocumentVersion": "2"})
    with ssm.db.read() as conn:
        assert session_preferences(conn, ACCOUNT, region)["idleSessionTimeout"] == "45"
    ssm.call("DeleteDocument", {"Name": name})
    ssm.call("CreateDocument", {"Name": name, "DocumentType": "Command", "Content": json.dumps(COMMAND)})
    with ssm.db.read() as conn:
        assert session_preferences(conn, ACCOUNT, region) == {}   # not a Session document


def test_command_document_by_version(ssm: SsmCloud) -> None:
    region = ssm.config.region
    ssm.call("CreateDocument", {"Name": "deploy", "Content": json.dumps(COMMAND)})
    second = {**COMMAND, "description": "Second."}
    ssm.call("UpdateDocument", {"Name": "deploy", "Content": json.dumps(second)})
    ssm.call("CreateDocument", {"Name": "rules", "DocumentType": "Policy",
                                "Content": json.dumps({"schemaVersion": "2.0"})})
    arn = f"arn:aws:ssm:{region}:{ACCOUNT}:document/deploy"
    with ssm.db.read() as conn:
        assert command_document(conn, ACCOUNT, region, "deploy", None) == COMMAND
        assert command_document(conn, ACCOUNT, region, "deploy", "$DEFAULT") == COMMAND
        assert command_document(conn, ACCOUNT, region, "deploy", "$LATEST") == second
        assert command_document(conn, ACCOUNT, region, "deploy", "2") == second
        assert command_document(conn, ACCOUNT, region, arn, "1") == COMMAND
        assert command_document(conn, ACCOUNT, region, "deploy", "3") is None
        assert command_document(conn, ACCOUNT, region, "deploy", "99999999999999999999999") is None
        assert command_document(conn, ACCOUNT, region, "missing", None) is None
        assert command_document(conn, ACCOUNT, region, "rules", None) is None          # a Policy document
        assert command_document(conn, "999999999999", region, "deploy", None) is None
        assert command_document(conn, "999999999999", region, arn, None) is None
        assert command_document(conn, ACCOUNT, region, "AWS-RunShellScript", None) is None   # not the account's


def test_refused_writes_leave_nothing_behind(ssm: SsmCloud) -> None:
    ssm.refused("CreateDocument", {"Name": "broken", "Content": "{"}, "InvalidDocumentContent")
    ssm.refused("DescribeDocument", {"Name": "broken"}, "InvalidDocument")
    ssm.call("CreateDocument", {"Name": "kept", "Content": json.dumps(COMMAND)})
    ssm.refused("UpdateDocument", {"Name": "kept", "Content": json.dumps({"schemaVersion": "2.2"})},
                "InvalidDocumentContent")
    ssm.refused("DeleteDocument", {"Name": "AWS-RunShellScript"}, "AccessDeniedException")
    assert ssm.call("DescribeDocument", {"Name": "kept"})["Document"]["LatestVersion"] == "1"
