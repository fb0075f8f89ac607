"""The documents AWS owns that Cloudlet serves (Owner ``Amazon``): their content as AWS publishes it.

They are readable by every account (GetDocument, DescribeDocument, ListDocuments with Owner Amazon or All,
ListDocumentVersions) and changed by none. Each has one version, ``1``, which is its default. The content of
``AWS-RunShellScript`` is AWS's, byte for byte as ``aws ssm get-document`` prints it (schemaVersion 1.2, with
a ``runtimeConfig``); the port-forwarding documents' are AWS's parameters and properties, as Session Manager's
user guide shows them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from controller.ssm import document_content

_PORT = "^([1-9]|[1-9][0-9]{1,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$"
_LOCAL_PORT = "^([0-9]|[1-9][0-9]{1,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$"
_LOCAL_PORT_DESCRIPTION = ("(Optional) Port number on local machine to forward traffic to. An open port is "
                           "chosen at run-time if not provided")

RUN_SHELL_SCRIPT = """{
    "schemaVersion":"1.2",
    "description":"Run a shell script or specify the commands to run.",
    "parameters":{
        "commands":{
            "type":"StringList",
            "description":"(Required) Specify a shell script or a command to run.",
            "minItems":1,
            "displayType":"textarea"
        },
        "workingDirectory":{
            "type":"String",
            "default":"",
            "description":"(Optional) The path to the working directory on your instance.",
            "maxChars":4096
        },
        "executionTimeout":{
            "type":"String",
            "default":"3600",
            "description":"(Optional) The time in seconds for a command to complete before it is \
considered to have failed. Default is 3600 (1 hour). Maximum is 172800 (48 hours).",
            "allowedPattern":"([1-9][0-9]{0,4})|(1[0-6][0-9]{4})|(17[0-1][0-9]{3})|(172[0-7][0-9]{2})|(172800)"
        }
    },
    "runtimeConfig":{
        "aws:runShellScript":{
            "properties":[
                {
                    "id":"0.aws:runShellScript",
                    "runCommand":"{{ commands }}",
                    "workingDirectory":"{{ workingDirectory }}",
                    "timeoutSeconds":"{{ executionTimeout }}"
                }
            ]
        }
    }
}
"""


def _port_forwarding(description: str, port_description: str, extra: dict[str, Any]) -> str:
    """A port-forwarding Session document's content (AWS's two differ in the remote ``host`` only)."""
    parameters: dict[str, Any] = {
        "portNumber": {"type": "String", "description": port_description, "allowedPattern": _PORT,
                       "default": "80"},
        "localPortNumber": {"type": "String", "description": _LOCAL_PORT_DESCRIPTION,
                            "allowedPattern": _LOCAL_PORT, "default": "0"},
        **extra}
    properties = {"portNumber": "{{ portNumber }}", "type": "LocalPortForwarding",
                  "localPortNumber": "{{ localPortNumber }}"}
    if "host" in extra:
        properties["host"] = "{{ host }}"
    return json.dumps({"schemaVersion": "1.0", "description": description, "sessionType": "Port",
                       "parameters": parameters, "properties": properties}, indent=2) + "\n"


PORT_FORWARDING = _port_forwarding("Document to start port forwarding session over Session Manager",
                                   "(Optional) Port number of the server on the instance", {})
PORT_FORWARDING_TO_REMOTE_HOST = _port_forwarding(
    "Document to start port forwarding session over Session Manager to a remote host",
    "(Optional) Port number of the server on the remote host",
    {"host": {"type": "String", "description": "(Required) The hostname or IP address of the remote host"}})


@dataclass(frozen=True)
class AwsDocument:
    """One AWS-owned document: its single version, as the read calls show it."""

    name: str
    document_type: str
    content: str
    created_at: float
    platform_types: tuple[str, ...]

    @property
    def body(self) -> dict[str, Any]:
        return json.loads(self.content)

    def view(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The document and its one version in the shape of the account's rows
        (:mod:`controller.ssm.document_state`), so the read calls treat both alike."""
        head = {"name": self.name, "owner": "Amazon", "document_type": self.document_type,
                "default_version": 1, "latest_version": 1, "requires": None, "tags": {}}
        version = {"version": 1, "version_name": None, "content": self.content, "document_format": "JSON",
                   "display_name": None, "target_type": None, "created_at": self.created_at,
                   "content_hash": document_content.content_hash(self.content), "facts": self.facts.as_json()}
        return head, [version]

    @property
    def facts(self) -> document_content.Facts:
        _, facts = document_content.examine(self.content, "JSON", self.document_type)
        return document_content.Facts(schema_version=facts.schema_version, description=facts.description,
                                      parameters=facts.parameters, platform_types=list(self.platform_types))


DOCUMENTS: dict[str, AwsDocument] = {document.name: document for document in (
    AwsDocument("AWS-RunShellScript", "Command", RUN_SHELL_SCRIPT, 1504137600.0, ("Linux", "MacOS")),
    AwsDocument("AWS-StartPortForwardingSession", "Session", PORT_FORWARDING, 1566259200.0,
                ("Windows", "Linux", "MacOS")),
    AwsDocument("AWS-StartPortForwardingSessionToRemoteHost", "Session", PORT_FORWARDING_TO_REMOTE_HOST,
                1653004800.0, ("Windows", "Linux", "MacOS")),
)}
