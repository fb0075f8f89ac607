"""A container-image function end to end: built here with images/lambda/build.py, uploaded to Cloudlet's S3,
created with ``--package-type Image --code ImageUri=s3://bucket/key`` and invoked with boto3.

What proves the image, not the host, runs the code: the interpreter is the image's ``/usr/local/bin/python3``,
the working directory its WorkingDir, its config's Env reaches the handler (under the function's own
variables, which win as on AWS), and ImageConfig overrides CMD exactly as AWS's ImageConfig does.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.lambda_helpers import execution_role, invoke_json
from tests.support import CloudletProcess

BUILD = Path(__file__).resolve().parents[2] / "images/lambda/build.py"
APP = """\
import os, sys
count = 0

def handler(event, context):
    global count
    count += 1
    if event.get("fail"):
        raise KeyError("missing")
    print("image handler", count)
    return {"count": count, "executable": sys.executable, "cwd": os.getcwd(),
            "task_root": os.environ.get("LAMBDA_TASK_ROOT"), "lang": os.environ.get("LANG"),
            "greeting": os.environ.get("GREETING"), "request": context.aws_request_id}

def other(event, context):
    return "other handler"
"""


@pytest.fixture(scope="module")
def image_archive(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    work = tmp_path_factory.mktemp("image")
    (work / "src").mkdir()
    (work / "src" / "app.py").write_text(APP)
    subprocess.run([sys.executable, str(BUILD), str(work / "src"), "-o", str(work / "fn.tar")], check=True,
                   capture_output=True)
    return (work / "fn.tar").read_bytes()


@pytest.fixture
def image_function(functions_cloud: CloudletProcess, image_archive: bytes, unique: str) -> Any:
    s3, lam = functions_cloud.client("s3"), functions_cloud.client("lambda")
    s3.create_bucket(Bucket=unique)
    s3.put_object(Bucket=unique, Key="fn.tar", Body=image_archive)
    role = execution_role(functions_cloud.client("iam"), f"{unique}-role")
    lam.create_function(FunctionName=unique, Role=role, PackageType="Image",
                        Code={"ImageUri": f"s3://{unique}/fn.tar"}, Environment={"Variables": {"GREETING": "hi"}})
    lam.get_waiter("function_active_v2").wait(FunctionName=unique, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    return lam, unique


def test_an_image_function_runs_its_images_entrypoint_and_stays_warm(image_function: Any) -> None:
    lam, name = image_function
    response, first = invoke_json(lam, name, {"x": 1}, LogType="Tail")
    assert response["StatusCode"] == 200 and "FunctionError" not in response
    assert first["executable"] == "/usr/local/bin/python3"
    assert (first["cwd"], first["task_root"], first["lang"], first["greeting"]) == ("/var/task", "/var/task",
                                                                                  "en_US.UTF-8", "hi")
    assert first["request"] == response["ResponseMetadata"]["RequestId"]  # Invoke's x-amzn-RequestId
    _, second = invoke_json(lam, name, {})
    assert second["count"] == first["count"] + 1  # the same environment: the module's globals persist
    tail = base64.b64decode(response["LogResult"]).decode()
    assert "image handler" in tail and "REPORT RequestId: " in tail


def test_handler_errors_and_image_config_overrides(image_function: Any) -> None:
    lam, name = image_function
    response, error = invoke_json(lam, name, {"fail": True})
    assert response["FunctionError"] == "Unhandled"
    assert (error["errorType"], error["errorMessage"]) == ("KeyError", "'missing'")
    assert isinstance(error["stackTrace"], list)
    lam.update_function_configuration(FunctionName=name, ImageConfig={"Command": ["app.other"]})
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    assert invoke_json(lam, name)[1] == "other handler"
    assert json.loads(json.dumps(lam.get_function_configuration(FunctionName=name)["ImageConfigResponse"])) == {
        "ImageConfig": {"Command": ["app.other"]}}
