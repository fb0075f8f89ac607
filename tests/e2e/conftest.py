"""Fixtures the end-to-end tests share: clients of the session's ``cloudlet up`` and cleanups after a test.

The ``cloudlet`` fixture itself (one real server per session) is in ``tests/conftest.py``; the helpers these
fixtures use are in :mod:`tests.e2e.helpers`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.ceph_cluster import CephCluster, missing_binaries
from tests.e2e.helpers import Cleanup, Client, teardown_vpc
from tests.e2e.lambda_helpers import MISSING
from tests.e2e.s3_backends import S3_SUITE, ceph_settings, cloudlet_on_cluster
from tests.prerequisites import require
from tests.support import CloudletProcess, wait_for

#: The object stores the S3 suite runs on; the Ceph run carries the ``ceph`` marker (``-m "not ceph"``).
S3_BACKENDS = [pytest.param("local"), pytest.param("ceph", marks=pytest.mark.ceph)]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run each test of the S3 suite once per backend (tests/e2e/s3_backends.py), grouped by backend."""
    if metafunc.module.__name__.rsplit(".", 1)[-1] in S3_SUITE and "s3_backend" in metafunc.fixturenames:
        metafunc.parametrize("s3_backend", S3_BACKENDS, indirect=True, scope="module")


@pytest.fixture(scope="module")
def s3_backend(request: pytest.FixtureRequest) -> str:
    """Where this test's Cloudlet keeps object data: ``local`` unless the S3 suite's parametrization says."""
    return getattr(request, "param", "local")


@pytest.fixture(scope="module")
def cloudlet(cloudlet: CloudletProcess, s3_backend: str, request: pytest.FixtureRequest) -> CloudletProcess:
    """The session's Cloudlet, or for the S3 suite's ``[ceph]`` run the one whose blobs are on Ceph."""
    if s3_backend == "ceph":
        return request.getfixturevalue("ceph_cloudlet")
    return cloudlet


@pytest.fixture(scope="session")
def ceph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CephCluster]:
    """A single-node Ceph cluster with a RADOS Gateway (tests/ceph_cluster.py), torn down after the session."""
    require(missing_binaries(), "the Ceph-backed S3 tests")
    cluster = CephCluster(tmp_path_factory.mktemp("cloudlet-ceph")).start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def ceph_cloudlet(ceph: CephCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudletProcess]:
    """A ``cloudlet up`` whose object data is in the Ceph cluster (``s3_backend: cluster`` on its gateway)."""
    data_dir = tmp_path_factory.mktemp("ceph-cloudlet") / "data"
    process = cloudlet_on_cluster(data_dir, ceph_settings(ceph, bucket="cloudlet-suite")).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="session")
def functions_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudletProcess]:
    """A ``cloudlet up`` with its local agent, which runs Lambda functions (tests/e2e/lambda_helpers.py).

    Asynchronous retries wait 1 s and 2 s instead of AWS's minute and two; the fixture yields once the
    agent's function runner registered (pollers and the async worker start before it)."""
    if MISSING is not None:
        pytest.skip(MISSING)
    data_dir = tmp_path_factory.mktemp("functions") / "data"
    data_dir.mkdir(parents=True)
    (data_dir / "cloudlet.json").write_text(json.dumps({"lambda_async_retry_delays": [1.0, 2.0]}))
    process = CloudletProcess(data_dir, agent=True).start()
    try:
        wait_for(lambda: any("registered" in line and "lambda-functions" in line for line in process.output),
                 timeout=60, what="the agent's function runner to register")
        yield process
    finally:
        process.stop()


@pytest.fixture
def iam(cloudlet: CloudletProcess) -> Client:
    return cloudlet.client("iam")


@pytest.fixture
def ec2(cloudlet: CloudletProcess) -> Client:
    return cloudlet.client("ec2")


@pytest.fixture
def s3(cloudlet: CloudletProcess) -> Client:
    return cloudlet.client("s3")


@pytest.fixture
def org(cloudlet: CloudletProcess) -> Client:
    return cloudlet.client("organizations")


@pytest.fixture
def cleanup(iam: Client) -> Iterator[Cleanup]:
    """IAM entities a test made (it appends their names), deleted after it whatever state it left them in."""
    tracker = Cleanup(iam)
    yield tracker
    tracker.run()


@pytest.fixture
def vpc_cleanup(ec2: Client, unique: str) -> Iterator[list[str]]:
    """VPC ids to tear down (with everything in them) after the test, plus the run's tagged addresses."""
    vpcs: list[str] = []
    yield vpcs
    for vpc_id in vpcs:
        teardown_vpc(ec2, vpc_id)
    for address in ec2.describe_addresses(Filters=[{"Name": "tag:Name", "Values": [f"{unique}*"]}])["Addresses"]:
        ec2.release_address(AllocationId=address["AllocationId"])
