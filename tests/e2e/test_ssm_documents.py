"""Systems Manager documents against a real ``cloudlet up``, with boto3 and the AWS CLI: create, read, update
(versions and the default one), list and delete round trips reading back every field written; YAML in and
JSON out (and back); the account's session preferences document; AWS's own documents, readable and not
changeable; ListDocuments' filters and pages; tags (also as IAM's ``aws:ResourceTag``); and AWS's errors."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest
import yaml

from tests.e2e.helpers import Cleanup, Client, allow, denied, document, new_user, refused
from tests.support import CloudletProcess, wait_for

pytestmark = pytest.mark.e2e

COMMAND = {
    "schemaVersion": "2.2",
    "description": "Say hello.",
    "parameters": {
        "greeting": {"type": "String", "description": "Whom to greet.", "default": "world"},
        "extra": {"type": "StringList", "default": ["a", "b"]},
    },
    "mainSteps": [{"action": "aws:runShellScript", "name": "hello",
                   "inputs": {"runCommand": ["echo hello {{ greeting }}"]}}],
}
COMMAND_YAML = """schemaVersion: '2.2'
description: From YAML.
parameters:
  target:
    type: String
    default: prod
mainSteps:
  - action: aws:runShellScript
    name: run
    inputs:
      runCommand:
        - echo {{ target }}
"""
PREFERENCES = {
    "schemaVersion": "1.0",
    "description": "Document to hold regional settings for Session Manager",
    "sessionType": "Standard_Stream",
    "inputs": {
        "s3BucketName": "session-logs", "s3KeyPrefix": "shells/", "s3EncryptionEnabled": True,
        "cloudWatchLogGroupName": "/ssm/sessions", "cloudWatchEncryptionEnabled": False,
        "cloudWatchStreamingEnabled": True, "idleSessionTimeout": "15", "maxSessionDuration": "120",
        "runAsEnabled": True, "runAsDefaultUser": "ops",
        "shellProfile": {"linux": "cd ~ && bash", "windows": ""},
    },
}


@pytest.fixture
def ssm(cloudlet: CloudletProcess) -> Client:
    return cloudlet.client("ssm")


def _content(**changes: Any) -> str:
    return json.dumps({**COMMAND, **changes})


def test_create_describe_get_round_trip(ssm: Client, cloudlet: CloudletProcess, unique: str) -> None:
    name = f"{unique}-hello"
    content = _content()
    created = ssm.create_document(Name=name, Content=content, DocumentType="Command", DocumentFormat="JSON",
                                  VersionName="v-one", DisplayName="Hello world", TargetType="/AWS::EC2::Instance",
                                  Tags=[{"Key": "team", "Value": "web"}])["DocumentDescription"]
    assert (created["Name"], created["Owner"], created["Status"], created["DocumentVersion"]) == \
        (name, cloudlet.account_id, "Active", "1")
    assert (created["LatestVersion"], created["DefaultVersion"], created["DocumentType"], created["SchemaVersion"],
            created["DocumentFormat"]) == ("1", "1", "Command", "2.2", "JSON")
    assert (created["VersionName"], created["DisplayName"], created["TargetType"], created["Description"]) == \
        ("v-one", "Hello world", "/AWS::EC2::Instance", "Say hello.")
    assert created["Parameters"] == [
        {"Name": "greeting", "Type": "String", "Description": "Whom to greet.", "DefaultValue": "world"},
        {"Name": "extra", "Type": "StringList", "DefaultValue": '["a", "b"]'}]
    assert created["PlatformTypes"] == ["Linux", "MacOS"] and created["HashType"] == "Sha256"
    assert created["Tags"] == [{"Key": "team", "Value": "web"}]
    assert isinstance(created["CreatedDate"], datetime)

    described = ssm.describe_document(Name=name)["Document"]
    assert described == created   # Active at once: a read right after CreateDocument sees what it returned
    got = ssm.get_document(Name=name)
    assert (got["Name"], got["Content"], got["DocumentVersion"], got["Status"], got["DocumentType"],
            got["DocumentFormat"], got["VersionName"], got["DisplayName"]) == \
        (name, content, "1", "Active", "Command", "JSON", "v-one", "Hello world")
    arn = f"arn:aws:ssm:{cloudlet.region}:{cloudlet.account_id}:document/{name}"
    assert ssm.get_document(Name=arn)["Content"] == content
    assert ssm.describe_document(Name=name, VersionName="v-one")["Document"]["DocumentVersion"] == "1"
    assert ssm.get_document(Name=name, DocumentVersion="$LATEST")["Content"] == content

    cli = json.loads(cloudlet.aws("ssm", "describe-document", "--name", name).stdout)["Document"]
    assert (cli["Name"], cli["DocumentVersion"], cli["Status"]) == (name, "1", "Active")


def test_yaml_in_json_out_and_back(ssm: Client, unique: str) -> None:
    name = f"{unique}-yaml"
    created = ssm.create_document(Name=name, Content=COMMAND_YAML, DocumentType="Command",
                                  DocumentFormat="YAML")["DocumentDescription"]
    assert (created["DocumentFormat"], created["SchemaVersion"], created["Description"]) == \
        ("YAML", "2.2", "From YAML.")
    assert ssm.get_document(Name=name)["Content"] == COMMAND_YAML   # as written, in its own format
    as_json = ssm.get_document(Name=name, DocumentFormat="JSON")
    assert as_json["DocumentFormat"] == "JSON"
    assert json.loads(as_json["Content"]) == yaml.safe_load(COMMAND_YAML)
    # A JSON document read as YAML, and that YAML written back as a new version, is the same document.
    json_name = f"{unique}-json"
    ssm.create_document(Name=json_name, Content=_content(), DocumentType="Command")
    as_yaml = ssm.get_document(Name=json_name, DocumentFormat="YAML")
    assert as_yaml["DocumentFormat"] == "YAML" and yaml.safe_load(as_yaml["Content"]) == COMMAND
    updated = ssm.update_document(Name=json_name, Content=as_yaml["Content"], DocumentFormat="YAML",
                                  DocumentVersion="$LATEST")["DocumentDescription"]
    assert (updated["DocumentVersion"], updated["DocumentFormat"]) == ("2", "YAML")
    assert json.loads(ssm.get_document(Name=json_name, DocumentVersion="2", DocumentFormat="JSON")["Content"]) == \
        COMMAND


def test_versions_and_the_default_one(ssm: Client, cloudlet: CloudletProcess, unique: str) -> None:
    name = f"{unique}-versions"
    first = _content()
    ssm.create_document(Name=name, Content=first, VersionName="one", DisplayName="First")
    second = _content(description="Second.")
    updated = ssm.update_document(Name=name, Content=second, VersionName="two", DocumentVersion="1",
                                  TargetType="/AWS::EC2::Instance")["DocumentDescription"]
    assert (updated["DocumentVersion"], updated["LatestVersion"], updated["DefaultVersion"], updated["VersionName"],
            updated["DisplayName"], updated["Description"], updated["TargetType"]) == \
        ("2", "2", "1", "two", "First", "Second.", "/AWS::EC2::Instance")
    assert ssm.get_document(Name=name)["Content"] == first            # the default stays where it was
    assert ssm.get_document(Name=name, DocumentVersion="$LATEST")["Content"] == second
    assert ssm.get_document(Name=name, VersionName="two")["Content"] == second

    default = ssm.update_document_default_version(Name=name, DocumentVersion="2")["Description"]
    assert default == {"Name": name, "DefaultVersion": "2", "DefaultVersionName": "two"}
    assert ssm.describe_document(Name=name)["Document"]["DocumentVersion"] == "2"
    third = json.loads(cloudlet.aws("ssm", "update-document", "--name", name, "--content", _content(description="3"),
                                    "--document-version", "$LATEST").stdout)["DocumentDescription"]
    assert (third["DocumentVersion"], third["DefaultVersion"]) == ("3", "2")

    versions = ssm.list_document_versions(Name=name)["DocumentVersions"]
    assert [(item["DocumentVersion"], item.get("VersionName"), item["IsDefaultVersion"], item["Status"],
             item["DocumentFormat"], item["DisplayName"]) for item in versions] == [
        ("1", "one", False, "Active", "JSON", "First"), ("2", "two", True, "Active", "JSON", "First"),
        ("3", None, False, "Active", "JSON", "First")]
    paged = ssm.list_document_versions(Name=name, MaxResults=2)
    assert [item["DocumentVersion"] for item in paged["DocumentVersions"]] == ["1", "2"]
    rest = ssm.list_document_versions(Name=name, MaxResults=2, NextToken=paged["NextToken"])
    assert [item["DocumentVersion"] for item in rest["DocumentVersions"]] == ["3"] and "NextToken" not in rest

    # One version goes (not the default); then the whole document.
    refused(ssm.delete_document, "InvalidDocumentOperation", Name=name, DocumentVersion="2")
    refused(ssm.delete_document, "InvalidDocumentOperation", Name=name, VersionName="two")
    refused(ssm.delete_document, "InvalidDocument", Name=name, DocumentVersion="9")
    ssm.delete_document(Name=name, DocumentVersion="3")
    assert ssm.describe_document(Name=name)["Document"]["LatestVersion"] == "2"
    ssm.delete_document(Name=name, VersionName="one")
    assert [item["DocumentVersion"] for item in ssm.list_document_versions(Name=name)["DocumentVersions"]] == ["2"]
    assert ssm.update_document(Name=name, Content=_content(description="again"))["DocumentDescription"][
        "DocumentVersion"] == "3"
    ssm.delete_document(Name=name)
    refused(ssm.describe_document, "InvalidDocument", Name=name)
    refused(ssm.get_document, "InvalidDocument", Name=name)
    refused(ssm.list_document_versions, "InvalidDocument", Name=name)
    ssm.create_document(Name=name, Content=first)   # the name is free again, with no history
    assert ssm.describe_document(Name=name)["Document"]["LatestVersion"] == "1"


def test_session_preferences_document_from_the_cli(ssm: Client, cloudlet: CloudletProcess, tmp_path: Path) -> None:
    path = tmp_path / "preferences.json"
    path.write_text(json.dumps(PREFERENCES))
    created = json.loads(cloudlet.aws("ssm", "create-document", "--name", "SSM-SessionManagerRunShell",
                                      "--document-type", "Session", "--content",
                                      f"file://{path}").stdout)["DocumentDescription"]
    try:
        assert (created["Name"], created["DocumentType"], created["SchemaVersion"], created["Owner"]) == \
            ("SSM-SessionManagerRunShell", "Session", "1.0", cloudlet.account_id)
        got = ssm.get_document(Name="SSM-SessionManagerRunShell")
        assert json.loads(got["Content"]) == PREFERENCES
        refused(ssm.create_document, "DocumentAlreadyExists", Name="SSM-SessionManagerRunShell",
                Content=json.dumps(PREFERENCES), DocumentType="Session")
        changed = {**PREFERENCES, "inputs": {**PREFERENCES["inputs"], "idleSessionTimeout": "30"}}
        path.write_text(json.dumps(changed))
        updated = json.loads(cloudlet.aws("ssm", "update-document", "--name", "SSM-SessionManagerRunShell",
                                          "--content", f"file://{path}", "--document-version",
                                          "$LATEST").stdout)["DocumentDescription"]
        assert updated["DocumentVersion"] == "2"
        cloudlet.aws("ssm", "update-document-default-version", "--name", "SSM-SessionManagerRunShell",
                     "--document-version", "2")
        assert json.loads(ssm.get_document(Name="SSM-SessionManagerRunShell")["Content"])["inputs"][
            "idleSessionTimeout"] == "30"
        for bad in ({"inputs": {"idleSessionTimeout": "90"}}, {"inputs": {"s3BucketName": 7}},
                    {"inputs": {"unknownPreference": "x"}}, {"sessionType": "Telnet"}):
            refused(ssm.update_document, "InvalidDocumentContent", Name="SSM-SessionManagerRunShell",
                    Content=json.dumps({**PREFERENCES, **bad}))
    finally:
        ssm.delete_document(Name="SSM-SessionManagerRunShell")


def test_aws_documents_are_readable_and_not_changeable(ssm: Client, cloudlet: CloudletProcess) -> None:
    shell = ssm.describe_document(Name="AWS-RunShellScript")["Document"]
    assert (shell["Owner"], shell["DocumentType"], shell["SchemaVersion"], shell["DocumentVersion"],
            shell["DefaultVersion"], shell["PlatformTypes"]) == ("Amazon", "Command", "1.2", "1", "1",
                                                                 ["Linux", "MacOS"])
    assert [parameter["Name"] for parameter in shell["Parameters"]] == ["commands", "workingDirectory",
                                                                        "executionTimeout"]
    body = json.loads(ssm.get_document(Name="AWS-RunShellScript")["Content"])
    assert body["runtimeConfig"]["aws:runShellScript"]["properties"][0]["runCommand"] == "{{ commands }}"
    arn = f"arn:aws:ssm:{cloudlet.region}::document/AWS-RunShellScript"
    assert ssm.get_document(Name=arn)["Name"] == "AWS-RunShellScript"
    for name, parameters in (("AWS-StartPortForwardingSession", {"portNumber", "localPortNumber"}),
                             ("AWS-StartPortForwardingSessionToRemoteHost",
                              {"portNumber", "localPortNumber", "host"})):
        session = json.loads(ssm.get_document(Name=name)["Content"])
        assert (session["sessionType"], set(session["parameters"])) == ("Port", parameters)
        assert ssm.describe_document(Name=name)["Document"]["DocumentType"] == "Session"
    assert [item["DocumentVersion"] for item in
            ssm.list_document_versions(Name="AWS-RunShellScript")["DocumentVersions"]] == ["1"]

    for call, params in ((ssm.delete_document, {}), (ssm.update_document, {"Content": _content()}),
                         (ssm.update_document_default_version, {"DocumentVersion": "1"})):
        code, status, _ = denied(call, Name="AWS-RunShellScript", **params)
        assert (code, status) == ("AccessDeniedException", 400)
    refused(ssm.create_document, "ValidationException", Name="AWS-RunShellScript", Content=_content())
    refused(ssm.add_tags_to_resource, "InvalidResourceId", ResourceType="Document", ResourceId="AWS-RunShellScript",
            Tags=[{"Key": "k", "Value": "v"}])
    assert ssm.describe_document(Name="AWS-RunShellScript")["Document"]["LatestVersion"] == "1"


def test_list_documents_pages_and_filters(ssm: Client, cloudlet: CloudletProcess, unique: str) -> None:
    names = [f"{unique}-doc-{index}" for index in range(7)]
    for index, name in enumerate(names):
        ssm.create_document(Name=name, Content=_content(description=str(index)),
                            Tags=[{"Key": "parity", "Value": "even" if index % 2 == 0 else "odd"}])
    ssm.create_document(Name=f"{unique}-policy", Content=json.dumps({"schemaVersion": "2.0", "mainSteps": []}),
                        DocumentType="Policy")
    mine = [{"Key": "Name", "Values": [f"{unique}-doc-"]}]
    seen: list[str] = []
    token: dict[str, str] = {}
    pages = 0
    while True:
        page = ssm.list_documents(Filters=mine, MaxResults=3, **token)
        seen += [item["Name"] for item in page["DocumentIdentifiers"]]
        pages += 1
        if "NextToken" not in page:
            break
        token = {"NextToken": page["NextToken"]}
    assert (seen, pages) == (names, 3)
    [first] = ssm.list_documents(Filters=[{"Key": "Name", "Values": [names[0]]}])["DocumentIdentifiers"]
    assert (first["Owner"], first["DocumentVersion"], first["DocumentType"], first["SchemaVersion"],
            first["DocumentFormat"], first["PlatformTypes"], first["Tags"]) == \
        (cloudlet.account_id, "1", "Command", "2.2", "JSON", ["Linux", "MacOS"], [{"Key": "parity", "Value": "even"}])

    def listed(*filters: dict[str, Any], **params: Any) -> list[str]:
        return [item["Name"] for item in ssm.get_paginator("list_documents").paginate(
            Filters=list(filters), **params).build_full_result()["DocumentIdentifiers"]]

    prefix = {"Key": "Name", "Values": [unique]}
    assert listed(prefix, {"Key": "tag:parity", "Values": ["odd"]}) == names[1::2]
    assert listed(prefix, {"Key": "TagKeys", "Values": ["parity"]}) == names
    assert listed(prefix, {"Key": "DocumentType", "Values": ["Policy"]}) == [f"{unique}-policy"]
    assert listed(prefix, {"Key": "PlatformTypes", "Values": ["Windows"]}) == [f"{unique}-policy"]
    assert listed(prefix, {"Key": "Owner", "Values": ["Self"]}) == [*names, f"{unique}-policy"]
    assert listed(prefix, {"Key": "Owner", "Values": ["Amazon"]}) == []
    amazon = listed({"Key": "Owner", "Values": ["Amazon"]})
    assert amazon == ["AWS-RunShellScript", "AWS-StartPortForwardingSession",
                      "AWS-StartPortForwardingSessionToRemoteHost"]
    everything = listed({"Key": "Owner", "Values": ["All"]})
    assert set(amazon) | set(names) <= set(everything)
    assert unique not in " ".join(listed({"Key": "Owner", "Values": ["Amazon"]}))
    assert set(names) <= set(listed({"Key": "Owner", "Values": ["Private"]}))
    legacy = [item["Name"] for item in ssm.list_documents(DocumentFilterList=[
        {"key": "Name", "value": unique}, {"key": "DocumentType", "value": "Policy"}])["DocumentIdentifiers"]]
    assert legacy == [f"{unique}-policy"]
    cli = json.loads(cloudlet.aws("ssm", "list-documents", "--filters", f"Key=Name,Values={unique}-doc-",
                                  "Key=tag:parity,Values=even").stdout)["DocumentIdentifiers"]
    assert [item["Name"] for item in cli] == names[0::2]

    refused(ssm.list_documents, "InvalidFilterKey", Filters=[{"Key": "Colour", "Values": ["red"]}])
    refused(ssm.list_documents, "InvalidFilterKey", DocumentFilterList=[{"key": "TargetType", "value": "/x"}])
    refused(ssm.list_documents, "ValidationException", Filters=[{"Key": "Owner", "Values": ["Self", "Amazon"]}])
    refused(ssm.list_documents, "InvalidNextToken", NextToken="not-a-token")
    refused(ssm.list_documents, "ValidationException", MaxResults=51)


def test_tags_on_documents(ssm: Client, cloudlet: CloudletProcess, cleanup: Cleanup, unique: str) -> None:
    name = f"{unique}-tagged"
    ssm.create_document(Name=name, Content=_content(), Tags=[{"Key": "team", "Value": "web"}])
    ssm.add_tags_to_resource(ResourceType="Document", ResourceId=name, Tags=[{"Key": "stage", "Value": "prod"}])
    assert ssm.list_tags_for_resource(ResourceType="Document", ResourceId=name)["TagList"] == [
        {"Key": "stage", "Value": "prod"}, {"Key": "team", "Value": "web"}]
    assert ssm.describe_document(Name=name)["Document"]["Tags"] == [{"Key": "stage", "Value": "prod"},
                                                                    {"Key": "team", "Value": "web"}]
    ssm.remove_tags_from_resource(ResourceType="Document", ResourceId=name, TagKeys=["stage"])
    assert ssm.list_tags_for_resource(ResourceType="Document", ResourceId=name)["TagList"] == [
        {"Key": "team", "Value": "web"}]
    refused(ssm.list_tags_for_resource, "InvalidResourceId", ResourceType="Document", ResourceId=f"{unique}-none")
    too_many = [{"Key": f"k{index}", "Value": "v"} for index in range(51)]
    refused(ssm.create_document, "TooManyTagsError", Name=f"{unique}-crowded", Content=_content(), Tags=too_many)
    refused(ssm.describe_document, "InvalidDocument", Name=f"{unique}-crowded")

    # IAM reads a document's tags as aws:ResourceTag: a user may read the team's documents only.
    iam = cloudlet.client("iam")
    other = f"{unique}-other"
    ssm.create_document(Name=other, Content=_content(), Tags=[{"Key": "team", "Value": "db"}])
    reader = new_user(iam, cleanup, f"{unique}-reader")
    iam.put_user_policy(UserName=f"{unique}-reader", PolicyName="team-docs", PolicyDocument=document(
        allow(["ssm:DescribeDocument", "ssm:GetDocument"], "*",
              Condition={"StringEquals": {"aws:ResourceTag/team": "web"}})))
    client = cloudlet.client("ssm", reader)
    described = wait_for(lambda: _try(client.describe_document, Name=name), 10, "the reader's new key to work")
    assert described["Document"]["Name"] == name
    code, status, _ = denied(client.get_document, Name=other)
    assert (code, status) == ("AccessDeniedException", 400)


def _try(call: Any, **params: Any) -> Any:
    try:
        return call(**params)
    except botocore.exceptions.ClientError:
        return None


def test_errors(ssm: Client, unique: str) -> None:
    name = f"{unique}-errors"
    for bad_name in ("ab", "x" * 129, "has space", "amazon-thing", "AMZN.doc", "awsome", "Aws-Mine"):
        refused(ssm.create_document, "ValidationException", Name=bad_name, Content=_content())
    refused(ssm.create_document, "ValidationException", Name=name, Content=_content(), DocumentType="Spreadsheet")
    refused(ssm.create_document, "ValidationException", Name=name, Content=_content(), DocumentFormat="XML")
    refused(ssm.create_document, "ValidationException", Name=name, Content=_content(), VersionName="has space")
    invalid = ["{not json", "[1, 2]", json.dumps({"description": "no schema", "mainSteps": COMMAND["mainSteps"]}),
               _content(schemaVersion="0.3"), _content(schemaVersion="2.2", mainSteps=[]),
               json.dumps({"schemaVersion": "2.2"}), json.dumps({"schemaVersion": "1.2"}),
               _content(mainSteps=[{"action": "aws:runShellScript"}]),
               _content(parameters={"p": {"type": "Colour"}})]
    for content in invalid:
        refused(ssm.create_document, "InvalidDocumentContent", Name=name, Content=content)
    refused(ssm.create_document, "InvalidDocumentContent", Name=name, Content="a: [b", DocumentFormat="YAML")
    refused(ssm.create_document, "InvalidDocumentContent", Name=name, DocumentType="Session",
            Content=json.dumps({"schemaVersion": "1.0", "inputs": {}}))
    big = _content(description="x" * (64 * 1024))
    refused(ssm.create_document, "MaxDocumentSizeExceeded", Name=name, Content=big)
    refused(ssm.describe_document, "InvalidDocument", Name=name)   # nothing refused was kept

    ssm.create_document(Name=name, Content=_content(), VersionName="first")
    refused(ssm.create_document, "DocumentAlreadyExists", Name=name, Content=_content(description="other"))
    refused(ssm.update_document, "DuplicateDocumentContent", Name=name, Content=_content())
    refused(ssm.update_document, "DuplicateDocumentVersionName", Name=name, Content=_content(description="2"),
            VersionName="first")
    refused(ssm.update_document, "InvalidDocumentVersion", Name=name, Content=_content(description="2"),
            DocumentVersion="2")
    refused(ssm.update_document, "InvalidDocumentVersion", Name=name, Content=_content(description="2"),
            DocumentVersion="$DEFAULT")
    refused(ssm.update_document, "InvalidDocumentContent", Name=name, Content=COMMAND_YAML)   # JSON by default
    refused(ssm.update_document, "InvalidDocument", Name=f"{unique}-none", Content=_content())
    refused(ssm.get_document, "InvalidDocumentVersion", Name=name, DocumentVersion="5")
    refused(ssm.get_document, "InvalidDocumentVersion", Name=name, VersionName="nope")
    refused(ssm.get_document, "InvalidDocumentVersion", Name=name, DocumentVersion="99999999999999999999999")
    refused(ssm.get_document, "ValidationException", Name=name, DocumentVersion="latest")
    refused(ssm.update_document_default_version, "InvalidDocumentVersion", Name=name, DocumentVersion="4")
    refused(ssm.update_document_default_version, "ValidationException", Name=name, DocumentVersion="$LATEST")
    refused(ssm.delete_document, "InvalidDocument", Name=f"{unique}-none")
    # Schema version 1.2 documents can't be updated.
    legacy = f"{unique}-legacy"
    ssm.create_document(Name=legacy, Content=json.dumps({"schemaVersion": "1.2", "runtimeConfig": {
        "aws:runShellScript": {"properties": [{"id": "0.aws:runShellScript", "runCommand": ["true"]}]}}}))
    refused(ssm.update_document, "InvalidDocumentSchemaVersion", Name=legacy, Content=_content())
    assert ssm.describe_document(Name=name)["Document"]["LatestVersion"] == "1"
    assert ssm.describe_document(Name=legacy)["Document"]["LatestVersion"] == "1"


def test_other_document_types_are_stored_as_written(ssm: Client, unique: str) -> None:
    automation = {"schemaVersion": "0.3", "description": "Restart", "mainSteps": [
        {"name": "stop", "action": "aws:changeInstanceState", "inputs": {"DesiredState": "stopped"}}]}
    created = ssm.create_document(Name=f"{unique}-automation", Content=json.dumps(automation),
                                  DocumentType="Automation")["DocumentDescription"]
    assert (created["DocumentType"], created["SchemaVersion"]) == ("Automation", "0.3")
    calendar = "BEGIN:VCALENDAR\nVERSION:2.0\nEND:VCALENDAR\n"
    ssm.create_document(Name=f"{unique}-calendar", Content=calendar, DocumentType="ChangeCalendar",
                        DocumentFormat="TEXT")
    got = ssm.get_document(Name=f"{unique}-calendar")
    assert (got["Content"], got["DocumentFormat"], got["DocumentType"]) == (calendar, "TEXT", "ChangeCalendar")
    refused(ssm.get_document, "ValidationException", Name=f"{unique}-calendar", DocumentFormat="JSON")
    refused(ssm.create_document, "InvalidDocumentContent", Name=f"{unique}-text-command", Content="echo hi",
            DocumentFormat="TEXT")
