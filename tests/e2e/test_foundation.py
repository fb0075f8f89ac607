"""The foundation end to end: `cloudlet up`, SigV4, one endpoint for all services, errors, the audit trail."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import urllib.request

import botocore.auth
import botocore.exceptions
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from tests.support import CloudletProcess, Credentials


def error_of(excinfo: pytest.ExceptionInfo) -> tuple[str, int, str]:
    response = excinfo.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"]


def test_caller_identity_is_the_account_root(cloudlet: CloudletProcess) -> None:
    identity = cloudlet.client("sts").get_caller_identity()
    assert identity["Account"] == cloudlet.account_id
    assert identity["Arn"] == f"arn:aws:iam::{cloudlet.account_id}:root"
    assert identity["UserId"] == cloudlet.account_id


def test_stock_aws_cli_with_the_written_profile(cloudlet: CloudletProcess) -> None:
    out = cloudlet.aws("sts", "get-caller-identity")
    assert json.loads(out.stdout)["Arn"] == f"arn:aws:iam::{cloudlet.account_id}:root"
    mode = cloudlet.aws_credentials_file.stat().st_mode & 0o777
    assert mode == 0o600


def test_regions_and_zones_come_from_configuration(cloudlet: CloudletProcess) -> None:
    ec2 = cloudlet.client("ec2")
    regions = ec2.describe_regions()["Regions"]
    assert [r["RegionName"] for r in regions] == ["home-1"]
    zones = ec2.describe_availability_zones()["AvailabilityZones"]
    assert [z["ZoneName"] for z in zones] == ["home-1a", "home-1b"]
    assert all(z["State"] == "available" and z["RegionName"] == "home-1" for z in zones)
    only_b = ec2.describe_availability_zones(Filters=[{"Name": "zone-name", "Values": ["*-1b"]}])
    assert [z["ZoneName"] for z in only_b["AvailabilityZones"]] == ["home-1b"]
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.describe_availability_zones(ZoneNames=["mars-1a"])
    assert error_of(excinfo)[:2] == ("InvalidParameterValue", 400)


def test_wrong_secret_is_refused_and_audited(cloudlet: CloudletProcess) -> None:
    good = cloudlet.root_credentials()
    bad = Credentials(good.access_key_id, "x" * 40)
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        cloudlet.client("sts", bad).get_caller_identity()
    code, status, _ = error_of(excinfo)
    assert (code, status) == ("SignatureDoesNotMatch", 403)
    request_id = excinfo.value.response["ResponseMetadata"]["RequestId"]
    trail = cloudlet.client("cloudtrail")
    events = trail.lookup_events(LookupAttributes=[{"AttributeKey": "EventName",
                                                    "AttributeValue": "GetCallerIdentity"}])["Events"]
    failed = [json.loads(e["CloudTrailEvent"]) for e in events]
    failed = [e for e in failed if e["requestID"] == request_id]
    assert failed and failed[0]["errorCode"] == "SignatureDoesNotMatch"
    assert failed[0]["userIdentity"]["accessKeyId"] == good.access_key_id
    # and the CLI sees it too
    out = cloudlet.aws("cloudtrail", "lookup-events", "--lookup-attributes",
                       "AttributeKey=EventName,AttributeValue=GetCallerIdentity", "--max-results", "50")
    assert request_id in out.stdout


def test_unknown_key_and_missing_signature(cloudlet: CloudletProcess) -> None:
    stranger = Credentials("AKIAAAAAAAAAAAAAAAAA", "y" * 40)
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        cloudlet.client("sts", stranger).get_caller_identity()
    assert error_of(excinfo)[:2] == ("InvalidClientTokenId", 403)
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        cloudlet.client("ec2", stranger).describe_regions()
    assert error_of(excinfo)[:2] == ("AuthFailure", 401)
    body = b"Action=GetCallerIdentity&Version=2011-06-15"
    request = urllib.request.Request(cloudlet.endpoint + "/", data=body, method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    with pytest.raises(urllib.error.HTTPError) as http_error:
        urllib.request.urlopen(request, timeout=10)
    assert http_error.value.code == 403
    assert b"MissingAuthenticationToken" in http_error.value.read()


def _signed(cloudlet: CloudletProcess, body: str) -> AWSRequest:
    creds = cloudlet.root_credentials()
    request = AWSRequest(method="POST", url=cloudlet.endpoint + "/", data=body.encode(),
                         headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(BotoCredentials(creds.access_key_id, creds.secret_access_key), "sts", cloudlet.region).add_auth(request)
    return request


def _send(request: AWSRequest) -> tuple[int, bytes]:
    prepared = request.prepare()
    http_request = urllib.request.Request(prepared.url, data=prepared.body, method=prepared.method,
                                          headers=dict(prepared.headers))
    try:
        with urllib.request.urlopen(http_request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_skewed_clock_is_refused(cloudlet: CloudletProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    past = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=20)
    with monkeypatch.context() as patch:
        patch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: past)
        skewed = _signed(cloudlet, "Action=GetCallerIdentity&Version=2011-06-15")
    status, body = _send(skewed)
    assert status == 403
    assert b"SignatureDoesNotMatch" in body and b"Signature expired" in body
    status, _ = _send(_signed(cloudlet, "Action=GetCallerIdentity&Version=2011-06-15"))
    assert status == 200


def test_unknown_action_and_malformed_parameters(cloudlet: CloudletProcess) -> None:
    status, body = _send(_signed(cloudlet, "Action=GetCallerIdentityPlease&Version=2011-06-15"))
    assert status == 400 and b"InvalidAction" in body
    status, body = _send(_signed(cloudlet, "Action=AssumeRole&Version=2011-06-15&RoleSessionName=x"))
    assert status == 400
    assert b"roleArn" in body or b"RoleArn" in body
    ec2 = cloudlet.client("ec2")
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        ec2.describe_availability_zones(Filters=[{"Name": "no-such-filter", "Values": ["x"]}])
    code, status, message = error_of(excinfo)
    assert (code, status) == ("InvalidParameterValue", 400) and "no-such-filter" in message


def test_lookup_events_filters_and_pagination(cloudlet: CloudletProcess) -> None:
    start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    ec2 = cloudlet.client("ec2")
    mine = {ec2.describe_regions()["ResponseMetadata"]["RequestId"] for _ in range(7)}
    trail = cloudlet.client("cloudtrail")
    pages = trail.get_paginator("lookup_events").paginate(
        StartTime=start, LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "DescribeRegions"}],
        PaginationConfig={"PageSize": 3})
    seen = [e for page in pages for e in page["Events"]]
    assert len({e["EventId"] for e in seen}) == len(seen)
    assert mine <= {json.loads(e["CloudTrailEvent"])["requestID"] for e in seen}
    times = [e["EventTime"] for e in seen]
    assert times == sorted(times, reverse=True)
    assert all(e["EventSource"] == "ec2.amazonaws.com" and e["ReadOnly"] == "true" for e in seen)
    only_ec2 = trail.lookup_events(StartTime=start, LookupAttributes=[
        {"AttributeKey": "EventSource", "AttributeValue": "ec2.amazonaws.com"}])["Events"]
    assert len(only_ec2) >= 7
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        trail.lookup_events(StartTime=start + dt.timedelta(hours=1), EndTime=start)
    assert error_of(excinfo)[0] == "InvalidTimeRangeException"


def test_restart_keeps_state_and_agent_registers(tmp_path) -> None:
    process = CloudletProcess(tmp_path / "data", agent=True).start()
    try:
        account, key = process.account_id, process.root_credentials()
        process.client("ec2").describe_regions()
        process.restart()
        assert process.account_id == account
        assert process.root_credentials() == key
        assert process.client("sts").get_caller_identity()["Account"] == account
        names = [e["EventName"] for e in process.client("cloudtrail").lookup_events()["Events"]]
        assert "DescribeRegions" in names
        token = (tmp_path / "data" / "agent.token").read_text().strip()
        deadline = time.monotonic() + 20
        hosts: list = []
        while time.monotonic() < deadline and not hosts:
            request = urllib.request.Request(process.endpoint + "/_cloudlet/agent/v1/hosts",
                                             headers={"Authorization": f"Bearer {token}"})
            hosts = json.load(urllib.request.urlopen(request, timeout=5))["hosts"]
            time.sleep(0.3)
        assert hosts and hosts[0]["zone"] == "home-1a" and hosts[0]["state"] == "up"
    finally:
        assert process.stop() == 0


def test_ctrl_c_ends_pending_long_polls_instead_of_waiting_them_out(tmp_path) -> None:
    """SIGINT with SQS long polls in flight (served by the primary and by API workers alike) stops within a
    few seconds, not after the polls' 20 s, and each poll gets an answer or a closed connection."""
    process = CloudletProcess(tmp_path / "data").start()
    url = process.client("sqs").create_queue(QueueName="parked")["QueueUrl"]
    outcomes: list[str] = []

    def poll() -> None:
        sqs = process.client("sqs", read_timeout=60)
        try:
            outcomes.append(str(len(sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20).get("Messages", []))))
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            outcomes.append(type(exc).__name__)

    polls = [threading.Thread(target=poll) for _ in range(4)]
    for thread in polls:
        thread.start()
    time.sleep(1.0)  # the polls are parked on the queue's signal
    started = time.monotonic()
    assert process.stop() == 0
    stopped_in = time.monotonic() - started
    for thread in polls:
        thread.join(timeout=30)
    assert stopped_in < 6, f"cloudlet up took {stopped_in:.1f} s to stop"
    assert len(outcomes) == 4
