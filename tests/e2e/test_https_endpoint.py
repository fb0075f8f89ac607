"""``https_listen``: the API over HTTPS beside plain HTTP, and an AWS profile that trusts it.

The certificate comes from the cloud's CA and names the listener's address and this machine's names; the
profile ``cloudlet up`` writes points at the HTTPS endpoint with the CA as its ``ca_bundle``, so boto3 and
the AWS CLI verify the server without any setting of the user's. A client that does not trust the CA is
refused by its own TLS check; the plain endpoint (which the agents use) still answers.
"""

from __future__ import annotations

import configparser
import json
import os
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import SSLError

from tests.support import REPO, CloudletProcess


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudletProcess]:
    data_dir = tmp_path_factory.mktemp("https") / "data"
    data_dir.mkdir()
    (data_dir / "cloudlet.json").write_text(json.dumps({"https_listen": "127.0.0.1:0", "workers": 1}))
    process = CloudletProcess(data_dir).start()
    try:
        yield process
    finally:
        process.stop()


def _profile(cloud: CloudletProcess) -> configparser.SectionProxy:
    parser = configparser.ConfigParser()
    parser.read(cloud.aws_config_file)
    return parser["profile cloudlet"]


def test_the_profile_points_at_https_and_boto3_verifies_the_server(cloud: CloudletProcess,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    profile = _profile(cloud)
    assert profile["endpoint_url"].startswith("https://127.0.0.1:")
    assert Path(profile["ca_bundle"]) == cloud.data_dir / "api-ca.pem"
    for name in [name for name in os.environ if name.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(cloud.aws_config_file))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(cloud.aws_credentials_file))
    session = boto3.Session(profile_name="cloudlet")
    identity = session.client("sts").get_caller_identity()
    assert identity["Account"] == cloud.account_id
    s3 = session.client("s3")
    s3.create_bucket(Bucket="over-tls")
    s3.put_object(Bucket="over-tls", Key="k", Body=b"x" * 200_000)
    assert s3.get_object(Bucket="over-tls", Key="k")["Body"].read() == b"x" * 200_000


def test_the_certificate_is_the_clouds_and_an_untrusting_client_is_refused(cloud: CloudletProcess) -> None:
    url = _profile(cloud)["endpoint_url"]
    creds = cloud.root_credentials()
    untrusting = boto3.client("sts", endpoint_url=url, region_name=cloud.region, verify=True,
                              aws_access_key_id=creds.access_key_id, aws_secret_access_key=creds.secret_access_key)
    with pytest.raises(SSLError):
        untrusting.get_caller_identity()
    context = ssl.create_default_context(cafile=str(cloud.data_dir / "api-ca.pem"))
    with pytest.raises(urllib.error.HTTPError) as refused:  # the handshake verified; the API wants a signature
        urllib.request.urlopen(url + "/", context=context, timeout=10)  # noqa: S310
    assert refused.value.code == 403
    assert cloud.client("sts").get_caller_identity()["Account"] == cloud.account_id  # plain HTTP still serves


def test_the_aws_cli_uses_the_profile_over_https(cloud: CloudletProcess) -> None:
    aws = Path(sys.executable).parent / "aws"
    done = subprocess.run([str(aws), "sts", "get-caller-identity", "--query", "Account", "--output", "text"],
                          env=cloud.cli_env(), cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == cloud.account_id, done.stderr
