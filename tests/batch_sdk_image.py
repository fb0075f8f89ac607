"""A small OCI image with an AWS SDK, for Batch jobs that call S3 from inside their container.

Written like ``tests.batch_image`` (no registry is reachable here): the host's busybox, the host's
``python3`` with its standard library (less tests, IDLE, Tk and the build configuration) and the libraries its
extension modules load, and boto3 with a trimmed botocore from the test venv under ``/opt/sdk``: only the
``s3`` and ``sts`` models plus the endpoint, partition, retry and default-configuration data, so the SDK's own
credential chain (``AWS_CONTAINER_CREDENTIALS_RELATIVE_URI``) and S3 client run as in a real job. About 55 MB.
"""

from __future__ import annotations

import io
import sys
import tarfile
from pathlib import Path

import boto3
import botocore

from tests.batch_image import add_busybox, add_directories, oci_archive, shared_libraries

PYTHON = Path("/usr/bin/python3.11")
STDLIB = Path("/usr/lib/python3.11")
#: Parts of the standard library no job here needs.
STDLIB_SKIPPED = ("test", "idlelib", "tkinter", "turtledemo", "lib2to3", "pydoc_data", "ensurepip", "distutils",
                  "dist-packages", "site-packages", "config-3.11-x86_64-linux-gnu")
#: Pure-Python packages boto3 imports, copied whole from the test venv.
PACKAGES = ("boto3", "s3transfer", "jmespath", "dateutil", "urllib3")
BOTOCORE_DATA = ("_retry.json", "endpoints.json", "partitions.json", "sdk-default-configuration.json")
SERVICES = ("s3", "sts")
SDK_DIR = "opt/sdk"


def _add_python(layer: tarfile.TarFile) -> None:
    add_directories(layer, ("usr", "usr/bin", "usr/lib", "usr/lib/python3.11"))
    layer.add(str(PYTHON), "usr/bin/python3")
    libraries = set(shared_libraries(PYTHON))
    for extension in (STDLIB / "lib-dynload").glob("*.so"):
        libraries |= set(shared_libraries(extension))
    present = set(layer.getnames())  # busybox's libraries are there already
    for library in sorted(libraries):
        if library.lstrip("/") not in present:
            layer.add(str(Path(library).resolve()), library.lstrip("/"))
    for entry in sorted(STDLIB.iterdir()):
        if entry.name not in STDLIB_SKIPPED:
            layer.add(str(entry), f"usr/lib/python3.11/{entry.name}")


def _add_sdk(layer: tarfile.TarFile) -> None:
    site = Path(botocore.__file__).parent.parent
    add_directories(layer, ("opt", SDK_DIR))
    for package in PACKAGES:
        layer.add(str(site / package), f"{SDK_DIR}/{package}")
    layer.add(str(site / "six.py"), f"{SDK_DIR}/six.py")
    core = Path(botocore.__file__).parent
    for entry in sorted(core.iterdir()):
        if entry.name != "data":
            layer.add(str(entry), f"{SDK_DIR}/botocore/{entry.name}")
    add_directories(layer, (f"{SDK_DIR}/botocore/data",))
    for name in BOTOCORE_DATA:
        layer.add(str(core / "data" / name), f"{SDK_DIR}/botocore/data/{name}")
    for service in SERVICES:
        layer.add(str(core / "data" / service), f"{SDK_DIR}/botocore/data/{service}")


def sdk_oci_archive(path: Path, ref: str) -> Path:
    """Write the image's OCI archive at ``path``, tagged ``ref``; ``python3 -c 'import boto3'`` works in it."""
    assert boto3.__file__ and sys.version_info[:2] == (3, 11), "the venv's boto3 must suit the host's python3.11"
    layer_buffer = io.BytesIO()
    with tarfile.open(fileobj=layer_buffer, mode="w") as layer:
        add_busybox(layer)
        _add_python(layer)
        _add_sdk(layer)
    return oci_archive(path, ref, layer_buffer.getvalue(),
                       ["PATH=/bin:/usr/bin", f"PYTHONPATH=/{SDK_DIR}", "PYTHONDONTWRITEBYTECODE=1"])
