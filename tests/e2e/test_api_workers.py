"""``cloudlet up`` serving the API from several processes (controller/workers/): one cloud, whichever
process answers.

Each test holds connections on known processes (a connection stays on the process that accepted it, and
``/_cloudlet/health`` says which one that is), so "written by one process, read by another" is asserted,
not hoped for.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from botocore.exceptions import ClientError

from tests.support import CloudletProcess, Credentials, wait_for

PROCESSES = 3


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Any:
    data_dir = tmp_path_factory.mktemp("workers") / "data"
    data_dir.mkdir()
    (data_dir / "cloudlet.json").write_text(json.dumps({"workers": PROCESSES}))
    process = CloudletProcess(data_dir).start()
    try:
        wait_for(lambda: len(processes(process)) == PROCESSES, 60, f"{PROCESSES} API processes answering")
        yield process
    finally:
        process.stop()


class Pinned:
    """A kept-alive connection to one process of the cloud, for signed calls of the query and JSON protocols."""

    def __init__(self, cloud: CloudletProcess, *, primary: bool, avoid: set[int] = frozenset()) -> None:
        self.cloud = cloud
        for _ in range(200):
            self.connection = http.client.HTTPConnection("127.0.0.1", cloud.port, timeout=30)
            health = self.get_json("/_cloudlet/health")
            if health["primary"] is primary and health["process"] not in avoid:
                self.process = health["process"]
                return
            self.connection.close()
        raise AssertionError(f"no connection reached a {'primary' if primary else 'worker'} process")

    def get_json(self, path: str) -> dict[str, Any]:
        self.connection.request("GET", path)
        return json.loads(self.connection.getresponse().read())

    def call(self, service: str, params: dict[str, str], credentials: Credentials, *,
             target: str = "") -> tuple[int, bytes]:
        """One signed call: form-encoded (query protocol), or JSON to ``target`` (X-Amz-Target)."""
        url = f"http://127.0.0.1:{self.cloud.port}/"
        if target:
            body = json.dumps(params).encode()
            headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": target}
        else:
            body = urlencode(params).encode()
            headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
        request = AWSRequest(method="POST", url=url, data=body, headers=headers)
        SigV4Auth(BotoCredentials(credentials.access_key_id, credentials.secret_access_key,
                                  credentials.session_token), service, self.cloud.region).add_auth(request)
        self.connection.request("POST", "/", body=body, headers=dict(request.headers.items()))
        response = self.connection.getresponse()
        return response.status, response.read()

    def health_process(self) -> int:
        return self.get_json("/_cloudlet/health")["process"]


def processes(cloud: CloudletProcess) -> dict[int, bool]:
    """The processes fresh connections reach: pid -> whether it is the primary."""
    seen: dict[int, bool] = {}
    for _ in range(40):
        connection = http.client.HTTPConnection("127.0.0.1", cloud.port, timeout=10)
        try:
            connection.request("GET", "/_cloudlet/health")
            health = json.loads(connection.getresponse().read())
            seen[health["process"]] = health["primary"]
        except (OSError, http.client.HTTPException):
            pass
        finally:
            connection.close()
    return seen


def one_per_process(cloud: CloudletProcess) -> list[Pinned]:
    workers: list[Pinned] = []
    for _ in range(PROCESSES - 1):
        workers.append(Pinned(cloud, primary=False, avoid={pinned.process for pinned in workers}))
    return [Pinned(cloud, primary=True), *workers]


def test_one_primary_and_its_workers_answer(cloud: CloudletProcess) -> None:
    seen = processes(cloud)
    assert len(seen) == PROCESSES
    assert sorted(seen.values()) == [False] * (PROCESSES - 1) + [True]


def test_a_worker_relays_what_it_does_not_serve_body_and_all(cloud: CloudletProcess, unique: str) -> None:
    worker = Pinned(cloud, primary=False)
    # SNS is served by the primary only; its form body is what routing reads to find the service
    status, body = worker.call("sns", {"Action": "CreateTopic", "Version": "2010-03-31", "Name": unique},
                               cloud.root_credentials())
    assert status == 200 and f":{unique}</TopicArn>".encode() in body
    assert any(t["TopicArn"].endswith(f":{unique}") for t in cloud.client("sns").list_topics()["Topics"])
    worker.connection.request("POST", "/", body=b"Action=ListTopics&Version=2010-03-31",
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
    refused = worker.connection.getresponse()
    assert refused.status == 403 and b"<Code>MissingAuthenticationToken</Code>" in refused.read()
    assert worker.health_process() == worker.process  # one connection throughout: all of it through the relay


def test_an_iam_change_holds_at_once_in_every_process(cloud: CloudletProcess, unique: str) -> None:
    iam = cloud.client("iam")
    iam.create_user(UserName=unique)
    iam.put_user_policy(UserName=unique, PolicyName="all", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    key = iam.create_access_key(UserName=unique)["AccessKey"]
    user = Credentials(key["AccessKeyId"], key["SecretAccessKey"])
    pinned = one_per_process(cloud)
    describe = {"Action": "DescribeVpcs", "Version": "2016-11-15"}
    # Each process answers once, so each has cached the user's policies and key before they change.
    assert [p.call("ec2", describe, user)[0] for p in pinned] == [200] * PROCESSES
    root = cloud.root_credentials()
    deny = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "ec2:*", "Resource": "*"}]})
    for writer in pinned:  # written by each process in turn, read by all at once
        status, body = writer.call("iam", {"Action": "PutUserPolicy", "Version": "2010-05-08", "UserName": unique,
                                           "PolicyName": "deny", "PolicyDocument": deny}, root)
        assert status == 200, body
        answers = [p.call("ec2", describe, user) for p in pinned]
        assert [status for status, _ in answers] == [403] * PROCESSES, answers
        assert all(b"UnauthorizedOperation" in body for _, body in answers)
        status, body = writer.call("iam", {"Action": "DeleteUserPolicy", "Version": "2010-05-08", "UserName": unique,
                                           "PolicyName": "deny"}, root)
        assert status == 200, body
        assert [p.call("ec2", describe, user)[0] for p in pinned] == [200] * PROCESSES
    iam.delete_access_key(UserName=unique, AccessKeyId=key["AccessKeyId"])
    answers = [p.call("ec2", describe, user) for p in pinned]
    assert [status for status, _ in answers] == [401] * PROCESSES, answers
    assert all(b"AuthFailure" in body for _, body in answers)


def test_a_long_poll_wakes_when_another_process_sends(cloud: CloudletProcess, unique: str) -> None:
    root = cloud.root_credentials()
    queue_url = cloud.client("sqs").create_queue(QueueName=unique)["QueueUrl"]
    primary, worker, *_ = one_per_process(cloud)
    for waiting, sending in ((worker, primary), (primary, worker)):
        answer: dict[str, Any] = {}

        def receive(pinned: Pinned = waiting, into: dict[str, Any] = answer) -> None:
            started = time.monotonic()
            into["reply"] = pinned.call("sqs", {"QueueUrl": queue_url, "WaitTimeSeconds": 15}, root,
                                        target="AmazonSQS.ReceiveMessage")
            into["seconds"] = time.monotonic() - started

        thread = threading.Thread(target=receive)
        thread.start()
        time.sleep(1.0)
        status, _ = sending.call("sqs", {"QueueUrl": queue_url, "MessageBody": f"from {sending.process}"}, root,
                                 target="AmazonSQS.SendMessage")
        assert status == 200
        thread.join(timeout=20)
        status, body = answer["reply"]
        assert status == 200 and f"from {sending.process}".encode() in body
        assert answer["seconds"] < 3.0, f"the wait in {waiting.process} took {answer['seconds']:.1f} s"


def test_many_clients_on_one_bucket_and_one_vpc_leave_consistent_state(cloud: CloudletProcess,
                                                                        unique: str) -> None:
    bucket = f"{unique}-hammer"
    cloud.client("s3").create_bucket(Bucket=bucket)
    ec2 = cloud.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    group = ec2.create_security_group(GroupName=unique, Description="hammer", VpcId=vpc)["GroupId"]
    cidrs = [f"10.77.{n}.0/24" for n in range(24)]
    ports = list(range(8000, 8024))

    def hammer(client_number: int) -> dict[str, Any]:
        s3, ec2 = cloud.client("s3"), cloud.client("ec2")  # a client (and connection) of its own
        mine = {"kept": set(), "subnets": [], "rules": 0, "shared": []}
        order = random.Random(client_number)
        for n in range(20):
            key = f"c{client_number}/k{n}"
            s3.put_object(Bucket=bucket, Key=key, Body=f"{client_number}:{n}".encode())
            if n % 4 == 3:
                s3.delete_object(Bucket=bucket, Key=key)
            else:
                mine["kept"].add(key)
            body = f"shared from {client_number}:{n}".encode()
            s3.put_object(Bucket=bucket, Key="shared", Body=body)
            mine["shared"].append(body)
        for cidr in order.sample(cidrs, len(cidrs)):
            try:
                mine["subnets"].append(ec2.create_subnet(VpcId=vpc, CidrBlock=cidr)["Subnet"]["SubnetId"])
            except ClientError as error:
                assert error.response["Error"]["Code"] == "InvalidSubnet.Conflict", error.response
        for port in order.sample(ports, len(ports)):
            try:
                ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
                    {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])
                mine["rules"] += 1
            except ClientError as error:
                assert error.response["Error"]["Code"] == "InvalidPermission.Duplicate", error.response
        return mine

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(hammer, range(8)))

    s3 = cloud.client("s3")
    listed = {item["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
              for item in page.get("Contents", [])}
    assert listed == set().union(*(r["kept"] for r in results)) | {"shared"}
    for key in sorted(listed - {"shared"}):
        client_number, n = key[1:].split("/k")
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == f"{client_number}:{n}".encode()
    last_writes = {r["shared"][-1] for r in results}
    assert s3.get_object(Bucket=bucket, Key="shared")["Body"].read() in last_writes
    created = [subnet for r in results for subnet in r["subnets"]]
    described = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    assert sorted(created) == sorted(s["SubnetId"] for s in described)
    assert sorted(s["CidrBlock"] for s in described) == sorted(cidrs)
    assert sum(r["rules"] for r in results) == len(ports)
    [described_group] = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"]
    assert sorted(p["FromPort"] for p in described_group["IpPermissions"]) == ports


def test_a_killed_worker_is_replaced_and_what_it_answered_is_audited(cloud: CloudletProcess,
                                                                     unique: str) -> None:
    victim = Pinned(cloud, primary=False)
    root = cloud.root_credentials()
    answered: list[str] = []

    def create_until_killed() -> None:
        for n in range(100_000):
            try:
                status, _ = victim.call("sqs", {"QueueName": f"{unique}-{n}"}, root, target="AmazonSQS.CreateQueue")
            except (OSError, http.client.HTTPException):
                return  # the kill: this call was never answered
            assert status == 200
            answered.append(f"{unique}-{n}")

    load = threading.Thread(target=create_until_killed)
    load.start()
    time.sleep(1.5)
    os.kill(victim.process, signal.SIGKILL)
    load.join(timeout=30)
    assert len(answered) > 10
    wait_for(lambda: len(processes(cloud)) == PROCESSES and victim.process not in processes(cloud), 30,
             "a new worker in the killed one's place")
    trail = cloud.client("cloudtrail")

    def audited() -> set[str]:
        pages = trail.get_paginator("lookup_events").paginate(
            LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateQueue"}])
        return {json.loads(event["CloudTrailEvent"])["requestParameters"]["QueueName"]
                for page in pages for event in page["Events"]}

    wait_for(lambda: set(answered) <= audited(), 30, "every call the killed worker answered, in the trail")


def test_the_worker_count_is_a_setting(tmp_path: Path) -> None:
    single = CloudletProcess(tmp_path / "data")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "cloudlet.json").write_text(json.dumps({"workers": 1}))
    single.start()
    try:
        assert list(processes(single).values()) == [True]
    finally:
        single.stop()
