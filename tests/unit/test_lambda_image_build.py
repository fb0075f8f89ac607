"""images/lambda/build.py: an OCI image of a Python function built from this machine's interpreter.

The image is unpacked with the agent's own reader (agent/functions/image.py) and its ENTRYPOINT + CMD run
in a bubblewrap sandbox whose root is the image alone, against a Runtime API served by the test: proof
that the layer carries everything awslambdaric needs, with nothing borrowed from the host.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from agent.functions.image import ImageSpec, unpack
from tests.unit.test_lambda_node_ric import RuntimeApi

BUILD = Path(__file__).resolve().parents[2] / "images/lambda/build.py"
APP = """\
import json, sqlite3
count = 0
def handler(event, context):
    global count
    count += 1
    if event.get("fail"):
        raise ValueError("asked to fail")
    print("invoked", context.aws_request_id)
    return {"count": count, "sqlite": sqlite3.sqlite_version_info >= (3,), "remaining": context.get_remaining_time_in_millis() > 0}
"""


def build(source: Path, output: Path, handler: str) -> None:
    """Run the CLI as the README does, with this environment's Python (whose awslambdaric the image gets)."""
    subprocess.run([sys.executable, str(BUILD), str(source), "-o", str(output), "--handler", handler], check=True,
                   capture_output=True)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ImageSpec]:
    work = tmp_path_factory.mktemp("image")
    (work / "src").mkdir()
    (work / "src" / "app.py").write_text(APP)
    build(work / "src", work / "fn.tar", "app.handler")
    return work / "fn.tar", unpack(work / "fn.tar", work / "unpacked")


def oci_layers(archive: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    with tarfile.open(archive) as tar:
        def read(name: str) -> Any:
            handle = tar.extractfile(name)
            assert handle is not None
            return json.loads(handle.read())
        index = read("index.json")
        manifest = read("blobs/sha256/" + index["manifests"][0]["digest"][7:])
        return read("blobs/sha256/" + manifest["config"]["digest"][7:]), manifest["layers"]


def test_the_image_is_shaped_like_awss_python_base_images(built: tuple[Path, ImageSpec]) -> None:
    archive, spec = built
    assert (spec.entrypoint, spec.cmd, spec.workdir) == (["/usr/local/bin/python3", "-m", "awslambdaric"],
                                                         ["app.handler"], "/var/task")
    assert spec.env["LAMBDA_TASK_ROOT"] == "/var/task" and "/usr/local/bin" in spec.env["PATH"].split(":")
    config, layers = oci_layers(archive)
    assert [layer["mediaType"] for layer in layers] == ["application/vnd.oci.image.layer.v1.tar+gzip"] * 2
    assert len(config["rootfs"]["diff_ids"]) == 2
    assert (spec.rootfs / "var/task/app.py").read_text() == APP
    site = spec.rootfs / "usr/local/lib/python3.11/site-packages"
    assert (site / "awslambdaric/bootstrap.py").exists() and (site / "simplejson").is_dir()
    assert not (spec.rootfs / "usr/local/lib/python3.11/test").exists()
    assert archive.stat().st_size < 40 * 1024 * 1024  # lean: no tests, no static library, stripped ELF files


def test_the_runtime_layer_is_reproducible_and_apart_from_the_code(built: tuple[Path, ImageSpec],
                                                                     tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "other.py").write_text("def handler(event, context):\n    return 1\n")
    build(tmp_path / "src", tmp_path / "other.tar", "other.handler")
    first_config, first_layers = oci_layers(built[0])
    second_config, second_layers = oci_layers(tmp_path / "other.tar")
    assert first_layers[0]["digest"] == second_layers[0]["digest"]
    assert first_layers[1]["digest"] != second_layers[1]["digest"]
    assert second_config["config"]["Cmd"] == ["other.handler"]


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("bwrap") is None, reason="needs root and bubblewrap")
def test_the_images_entrypoint_runs_the_handler_with_nothing_but_the_image(built: tuple[Path, ImageSpec],
                                                                            tmp_path: Path) -> None:
    spec = built[1]
    api = RuntimeApi()
    env = {**spec.env, "AWS_LAMBDA_RUNTIME_API": api.address, "AWS_LAMBDA_FUNCTION_NAME": "fn",
           "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST"}
    command = ["bwrap", "--ro-bind", str(spec.rootfs), "/", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
               "--unshare-pid", "--die-with-parent", "--chdir", spec.workdir, "--clearenv"]
    for key, value in env.items():
        command += ["--setenv", key, value]
    with (tmp_path / "log").open("w") as log:
        process = subprocess.Popen(command + spec.entrypoint + spec.cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        first = api.invoke("r-1", {})
        second = api.invoke("r-2", {})
        failed = api.invoke("r-3", {"fail": True})
    finally:
        process.kill()
        process.wait()
        api.server.shutdown()
    assert (first.kind, first.body) == ("response", {"count": 1, "sqlite": True, "remaining": True})
    assert second.body["count"] == 2  # one warm process: globals persist
    assert (failed.kind, failed.body["errorType"], failed.body["errorMessage"]) == ("error", "ValueError",
                                                                                   "asked to fail")
    assert "invoked r-1" in (tmp_path / "log").read_text()
