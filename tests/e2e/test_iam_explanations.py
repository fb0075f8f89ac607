"""A denied call on a real server: CloudTrail keeps AWS's event, and the explanation lands beside it.

The explanation is not served over the API (the console reads it in process with
``controller.iam.explanations.explain_event``, tested in tests/unit/test_iam_explanations.py), so this test
reads the server's state store behind the API (``CloudletProcess.query_state``: its SQLite file or PostgreSQL).
"""

from __future__ import annotations

import json
from typing import Any

from tests.e2e.helpers import Cleanup, allow, denied, deny, document, eventually, new_user
from tests.support import CloudletProcess


def test_a_denied_call_is_in_the_trail_with_its_explanation(cloudlet: CloudletProcess, iam: Any, unique: str,
                                                            cleanup: Cleanup) -> None:
    name = f"{unique}-alice"
    creds = new_user(iam, cleanup, name)
    iam.put_user_policy(UserName=name, PolicyName="Guard", PolicyDocument=document(
        allow("iam:*"), deny("iam:ListUsers", Sid="NoListing")))
    code, status, message = denied(cloudlet.client("iam", creds).list_users)
    assert (code, status) == ("AccessDenied", 403) and message.endswith("with an explicit deny in an identity-based "
                                                                        "policy")

    def denied_events() -> list[dict[str, Any]]:
        found = cloudlet.client("cloudtrail").lookup_events(
            LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": name}])["Events"]
        return [e for e in found if e["EventName"] == "ListUsers"]

    [event] = eventually(denied_events)
    trail = json.loads(event["CloudTrailEvent"])
    assert (trail["errorCode"], trail["errorMessage"]) == ("AccessDenied", message)
    assert "explanation" not in event["CloudTrailEvent"].lower()

    [(stored,)] = cloudlet.query_state("SELECT explanation FROM audit_explanations WHERE event_id = ?",
                                       (event["EventId"],))
    explanation = json.loads(stored)
    assert (explanation["explicit"], explanation["kind"], explanation["action"]) == (True, "identity",
                                                                                     "iam:ListUsers")
    [statement] = explanation["deniedBy"]
    assert (statement["sid"], statement["index"], statement["effect"]) == ("NoListing", 1, "Deny")
    assert statement["policy"] == {"kind": "identity", "policy_type": "user", "policy_id": "Guard", "arn": "",
                                   "attached_to": f"user/{name}"}
