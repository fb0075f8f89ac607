"""What the Lambda tests share: a cloud with an agent that runs functions, zips made from source, and roles.

Functions run on the host agent (bubblewrap sandboxes, cgroups), so these tests need root and ``bwrap``;
they boot no VM and stay in the fast loop. One agent-backed cloud serves the whole session
(``functions_cloud`` in tests/e2e/conftest.py): an agent start costs seconds, a function create milliseconds.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import textwrap
import zipfile
from typing import Any

import pytest

#: Why a test that runs functions is skipped here, or None when it can run.
MISSING = ("needs root" if os.geteuid() != 0 else
           "needs bubblewrap (apt install bubblewrap)" if shutil.which("bwrap") is None else None)

needs_functions = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")

LAMBDA_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def zip_of(files: dict[str, str]) -> bytes:
    """A deployment package holding ``files`` (name -> source text, dedented)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, textwrap.dedent(text))
    return buffer.getvalue()


def execution_role(iam: Any, name: str, *policies: dict[str, Any]) -> str:
    """A role Lambda may assume, with ``policies`` as inline statements; returns its ARN."""
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=LAMBDA_TRUST)["Role"]["Arn"]
    if policies:
        iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": list(policies)}))
    return arn


def python_function(lam: Any, name: str, role_arn: str, source: str, **config: Any) -> dict[str, Any]:
    """Create a python3.11 function whose ``app.py`` is ``source`` (handler ``app.handler``), and wait until Active."""
    created = lam.create_function(FunctionName=name, Runtime="python3.11", Role=role_arn, Handler="app.handler",
                                  Code={"ZipFile": zip_of({"app.py": source})}, **config)
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    return created


def invoke_json(lam: Any, name: str, event: Any = None, **params: Any) -> tuple[dict[str, Any], Any]:
    """Invoke synchronously; the raw response and the decoded payload."""
    response = lam.invoke(FunctionName=name, Payload=json.dumps(event if event is not None else {}), **params)
    return response, json.loads(response["Payload"].read() or b"null")
