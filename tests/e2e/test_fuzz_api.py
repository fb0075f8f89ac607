"""Fuzzing every operation of every served service, driven by botocore's models.

Typed inputs come from each operation's input shape (``tests/fuzz/shapes.py``): plausible
values and hostile ones (wrong types, huge and Unicode strings, missing required members,
out-of-range numbers, bad enums), sent through botocore's serializers and signer with
parameter validation off. Raw cases (``tests/fuzz/raw.py``) send what no SDK would: bodies
that do not parse, garbage query strings, bad and duplicate headers, wrong content types.
Everything runs against a cloud of its own, signed with its root key.

The rule checked is AWS's: a client's mistake is a 4xx, never a 5xx, and a call that was
refused changed nothing (the row counts of the state database are compared around every
refused call of an operation that creates or changes something, on SQLite or PostgreSQL alike). The budget is a few
thousand requests with a fixed seed; ``CLOUDLET_FUZZ_BUDGET=50000`` runs a longer campaign, and
``CLOUDLET_FUZZ_SEED=<n>`` a different one.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import io
import json
import os
import random
import time
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from controller.cloud import load_services
from controller.protocol import load_service_model
from tests.fuzz.harness import UNSENDABLE, Finding, RawSender, Score, StateDigest, TypedSender, is_mutating
from tests.fuzz.mutate import has_document_body, mutated, serialized
from tests.fuzz.raw import RawCase, auth_cases, json_cases, query_cases, s3_cases
from tests.fuzz.shapes import InputStrategies
from tests.support import CloudletProcess, Credentials

BUDGET = int(os.environ.get("CLOUDLET_FUZZ_BUDGET", "5500"))
#: Unset: the fixed derandomized sequence CI runs. Set: another campaign, reproducible by its seed.
SEED = os.environ.get("CLOUDLET_FUZZ_SEED")
SERVED = {service: sorted(api.operations) for service, api in load_services().items()}
OPERATIONS = [(service, operation) for service, operations in sorted(SERVED.items()) for operation in operations]
#: Three quarters of the budget for typed inputs, spread evenly over the operations.
EXAMPLES = max(3, BUDGET * 3 // 4 // len(OPERATIONS))
RAW_BUDGET = max(200, BUDGET // 4)

BUCKET, KEY = "fuzz-bucket", "fuzz-key"
POLICY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]})
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
LAMBDA_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


@dataclass
class Fuzz:
    cloud: CloudletProcess
    anchors: dict[str, list[Any]]
    typed: TypedSender
    admin: TypedSender
    raw: RawSender
    digest: StateDigest
    score: Score = field(default_factory=Score)
    not_implemented: int = 0
    not_implemented_where: Counter[str] = field(default_factory=Counter)
    current: str = ""

    def strategies(self, service: str) -> InputStrategies:
        return InputStrategies(self.anchors, protocol=load_service_model(service).metadata["protocol"])

    def send_typed(self, service: str, operation: str, params: dict[str, Any], *, as_admin: bool = False) -> None:
        self.current = operation
        before = self.digest.take() if is_mutating(operation) else None
        sender = self.admin if as_admin else self.typed
        answer = sender.call(service, operation, params)
        if answer is None:
            self.score.unsendable += 1
            return
        status, code = answer
        what = f"{service}:{operation}{' as an IAM user' if as_admin else ''} {_shown(params)}"
        allowed = self._documented_not_implemented(service, status, code)
        self.score.record(status, code, what, sender.last_body.decode("utf-8", "replace"), allowed_5xx=allowed)
        if before is not None and status is not None and 400 <= status < 500:
            self.score.state_checks += 1
            after = self.digest.take()
            changed = {table: (before.get(table), count) for table, count in after.items()
                       if before.get(table) != count}
            if changed:
                self.score.findings.append(_state_finding(what, status, code, changed))

    def send_raw(self, case: RawCase, signing_name: str, *, sign: bool = True) -> None:
        self.current = f"raw {case.note}"
        status, body = self.raw.send(case, signing_name, sign=sign)
        if status == UNSENDABLE:
            self.score.unsendable += 1
            return
        text = body.decode("utf-8", "replace")
        code = _code_of(text)
        self.score.record(status, code, f"{signing_name} raw: {case.note}", text,
                          allowed_5xx=self._documented_not_implemented(signing_name, status, code))

    def _documented_not_implemented(self, service: str, status: int | None, code: str) -> bool:
        """S3 answers 501 NotImplemented for functionality it lacks (a documented S3 error code)."""
        if service == "s3" and status == 501 and code == "NotImplemented":
            self.not_implemented += 1
            self.not_implemented_where[self.current] += 1
            return True
        return False


def _state_finding(what: str, status: int, code: str, changed: dict[str, tuple[int | None, int]]) -> Finding:
    return Finding(f"state changed by a refused call ({code}): {what}", status, json.dumps(changed))


def _code_of(text: str) -> str:
    for start, end in (("<Code>", "</Code>"), ('"__type":"', '"')):
        if start in text:
            return text.split(start, 1)[1].split(end, 1)[0]
    return ""


def _shown(params: dict[str, Any]) -> str:
    text = repr(params)
    return text if len(text) < 400 else text[:400] + "..."


def _seed(cloud: CloudletProcess) -> dict[str, list[Any]]:
    """Resources for fuzzed calls to find, so they get past the lookups into the handlers."""
    s3 = cloud.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"hello")
    iam = cloud.client("iam")
    iam.create_user(UserName="fuzz-user")
    iam.create_group(GroupName="fuzz-group")
    iam.create_role(RoleName="fuzz-role", AssumeRolePolicyDocument=TRUST)
    policy_arn = iam.create_policy(PolicyName="fuzz-policy", PolicyDocument=POLICY)["Policy"]["Arn"]
    access_key = iam.create_access_key(UserName="fuzz-user")["AccessKey"]["AccessKeyId"]
    ec2 = cloud.client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group_id = ec2.create_security_group(GroupName="fuzz-sg", Description="fuzz", VpcId=vpc_id)["GroupId"]
    images = ec2.describe_images(Owners=["amazon"])["Images"]
    key_id = cloud.client("kms").create_key(Description="fuzz")["KeyMetadata"]["KeyId"]
    queue_url = cloud.client("sqs").create_queue(QueueName="fuzz-queue")["QueueUrl"]
    topic_arn = cloud.client("sns").create_topic(Name="fuzz-topic")["TopicArn"]
    efs = cloud.client("efs")
    file_system_id = efs.create_file_system(CreationToken="fuzz")["FileSystemId"]
    while efs.describe_file_systems(FileSystemId=file_system_id)["FileSystems"][0]["LifeCycleState"] != "available":
        time.sleep(0.2)
    access_point_id = efs.create_access_point(FileSystemId=file_system_id)["AccessPointId"]
    functions = _seed_lambda(cloud, iam)
    return {
        **functions,
        "KeyId": [key_id, "alias/aws/ebs"], "QueueUrl": [queue_url], "QueueName": ["fuzz-queue"],
        "TopicArn": [topic_arn], "TargetArn": [topic_arn], "FileSystemId": [file_system_id],
        "AccessPointId": [access_point_id],
        "Bucket": [BUCKET], "Key": [KEY], "UserName": ["fuzz-user"], "GroupName": ["fuzz-group", "fuzz-sg"],
        "RoleName": ["fuzz-role"], "PolicyArn": [policy_arn], "PolicyName": ["fuzz-policy"],
        "AccessKeyId": [access_key], "VpcId": [vpc_id], "SubnetId": [subnet_id], "GroupId": [group_id],
        "ImageId": [image["ImageId"] for image in images[:2]] or ["ami-12345678"], "InstanceType": ["t3.micro"],
        "CidrBlock": ["10.0.2.0/24", "10.1.0.0/16"], "PolicyDocument": [POLICY], "Policy": [POLICY],
        "AssumeRolePolicyDocument": [TRUST], "Path": ["/", "/fuzz/"], "RoleArn": [
            f"arn:aws:iam::{cloud.account_id}:role/fuzz-role"], "AccountId": [cloud.account_id],
    }


def _seed_lambda(cloud: CloudletProcess, iam: Any) -> dict[str, list[Any]]:
    """A function with a published version, an alias, a permission and a layer, for Lambda's calls to find."""
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return event\n")
    role = iam.create_role(RoleName="fuzz-lambda", AssumeRolePolicyDocument=LAMBDA_TRUST)["Role"]["Arn"]
    lam = cloud.client("lambda")
    function = lam.create_function(FunctionName="fuzz-fn", Runtime="python3.11", Role=role, Handler="app.handler",
                                   Code={"ZipFile": package.getvalue()}, Publish=True)["FunctionArn"]
    lam.create_alias(FunctionName="fuzz-fn", Name="live", FunctionVersion="1")
    lam.add_permission(FunctionName="fuzz-fn", StatementId="fuzz", Action="lambda:InvokeFunction",
                       Principal="sns.amazonaws.com")
    layer = lam.publish_layer_version(LayerName="fuzz-layer", Content={"ZipFile": package.getvalue()})
    return {"FunctionName": ["fuzz-fn", function, f"{function}:live"], "Name": ["live"], "Role": [role],
            "Qualifier": ["1", "live", "$LATEST"], "FunctionVersion": ["1", "$LATEST"], "Resource": [function],
            "StatementId": ["fuzz"], "LayerName": ["fuzz-layer"], "VersionNumber": [1],
            "Arn": [layer["LayerVersionArn"]], "Layers": [[layer["LayerVersionArn"]]], "S3Bucket": [BUCKET],
            "S3Key": [KEY]}


def _administrator(cloud: CloudletProcess) -> Credentials:
    """An IAM user with AdministratorAccess: half the typed calls go through the policy engine as it."""
    iam = cloud.client("iam")
    iam.create_user(UserName="fuzz-admin")
    iam.attach_user_policy(UserName="fuzz-admin", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    key = iam.create_access_key(UserName="fuzz-admin")["AccessKey"]
    return Credentials(key["AccessKeyId"], key["SecretAccessKey"])


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzz]:
    """A cloud of the fuzzer's own (never the shared one: the fuzzer deletes and breaks things)."""
    cloud = CloudletProcess(tmp_path_factory.mktemp("fuzz") / "data").start()
    digest = None
    try:
        anchors = _seed(cloud)
        digest = StateDigest(cloud)
        yield Fuzz(cloud, anchors, TypedSender(cloud), TypedSender(cloud, _administrator(cloud)), RawSender(cloud),
                   digest)
    finally:
        if digest is not None:
            digest.close()
        cloud.stop()


def _findings_since(fuzz: Fuzz, start: int) -> str:
    return "\n".join(f"{finding.status}: {finding.what}\n    -> {finding.detail[:300]}"
                     for finding in fuzz.score.findings[start:])


#: Inputs that once got a 5xx, replayed first on every run (before the fuzzer deletes the seeded resources),
#: whatever the budget: (service, operation, input, status).
FOUND: list[tuple[str, str, dict[str, Any], int]] = [
    ("ec2", "CreateNetworkInterface", {"SubnetId": "@SubnetId", "Ipv6Addresses": [{"IsPrimaryIpv6": True}, {}]},
     400),
    ("s3", "ListBuckets", {"Prefix": "\x15"}, 200),
    ("s3", "ListMultipartUploads", {"Bucket": BUCKET, "KeyMarker": "k\x15", "UploadIdMarker": "12345"}, 200),
    ("organizations", "ListAccounts", {"NextToken": "\ud800"}, 400),
    ("efs", "DescribeAccessPoints", {"MaxResults": -2147483649}, 400),
    # NUL, which PostgreSQL's text cannot hold: refused at the protocol's edge on both engines
    ("apigateway", "GetStage", {"restApiId": "\x00", "stageName": "8Z-"}, 400),
    ("ssm", "DeleteParameters", {"Names": ["\x00", "live"]}, 400),
    ("cognito-idp", "AdminGetUser", {"UserPoolId": "\x00", "Username": "8Z-"}, 400),
    ("s3", "GetObject", {"Bucket": BUCKET, "Key": "\x00"}, 400),
    ("s3", "ListBuckets", {"ContinuationToken": "cyAA"}, 400),  # "s\0\0": a marker no key can be
    ("elbv2", "SetRulePriorities", {"RulePriorities": [{"Priority": 120}]}, 400),
]


@pytest.mark.parametrize(("service", "operation", "params", "status"), FOUND,
                         ids=[f"{row[0]}:{row[1]}" for row in FOUND])
def test_earlier_findings_stay_fixed(fuzz: Fuzz, service: str, operation: str, params: dict[str, Any],
                                     status: int) -> None:
    params = {name: fuzz.anchors[value[1:]][0] if isinstance(value, str) and value.startswith("@") else value
              for name, value in params.items()}
    answer = fuzz.typed.call(service, operation, params)
    assert answer is not None and answer[0] == status, (answer, fuzz.typed.last_body[:500])


@pytest.mark.parametrize(("service", "operation"), OPERATIONS, ids=[f"{s}:{o}" for s, o in OPERATIONS])
def test_typed_inputs_never_get_a_server_error(fuzz: Fuzz, service: str, operation: str) -> None:
    strategy = fuzz.strategies(service).input(load_service_model(service).operation_model(operation))
    start = len(fuzz.score.findings)

    @settings(max_examples=EXAMPLES, derandomize=SEED is None, deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(strategy, st.booleans())
    def fuzz_operation(params: dict[str, Any], as_admin: bool) -> None:
        fuzz.send_typed(service, operation, params, as_admin=as_admin)

    if SEED is not None:
        fuzz_operation = seed(int(SEED))(fuzz_operation)

    fuzz_operation()
    assert len(fuzz.score.findings) == start, _findings_since(fuzz, start)


def _raw_cases() -> dict[str, list[tuple[RawCase, bool]]]:
    """Every raw case per signing name, cut down to the raw budget with a fixed seed."""
    by_service: dict[str, list[tuple[RawCase, bool]]] = {}
    for service, operations in SERVED.items():
        model = load_service_model(service)
        protocol = model.metadata["protocol"]
        cases: list[RawCase] = []
        if protocol in ("query", "ec2"):
            for operation in operations:
                cases += query_cases(model, operation)
        elif protocol == "json":
            for operation in operations:
                cases += json_cases(model, model.operation_model(operation))
        elif service == "s3":
            cases += s3_cases(BUCKET, KEY)
        by_service[service] = [(case, True) for case in cases]
        if service == "s3":  # anonymous requests reach S3's handlers too (through bucket policies and ACLs)
            by_service[service] += [(case, False) for case in cases if case.method in ("GET", "HEAD")]
        target = f"/{BUCKET}/{KEY}" if service == "s3" else "/"
        by_service[service] += [(case, False) for case in auth_cases(target)]
    total = sum(len(cases) for cases in by_service.values())
    if total > RAW_BUDGET:
        rng = random.Random(9)
        for service, cases in by_service.items():
            keep = max(20, len(cases) * RAW_BUDGET // total)
            by_service[service] = rng.sample(cases, min(keep, len(cases)))
    return by_service


RAW = _raw_cases()


@pytest.mark.parametrize("service", sorted(RAW))
def test_raw_requests_never_get_a_server_error(fuzz: Fuzz, service: str) -> None:
    signing_name = load_service_model(service).signing_name or service
    start = len(fuzz.score.findings)
    for case, sign in RAW[service]:
        fuzz.send_raw(case, signing_name, sign=sign)
    assert len(fuzz.score.findings) == start, _findings_since(fuzz, start)


MUTATED_EXAMPLES = max(20, BUDGET // 8 // len(SERVED))


@pytest.mark.parametrize("service", sorted(SERVED))
def test_mutated_bodies_never_get_a_server_error(fuzz: Fuzz, service: str) -> None:
    """Well-formed requests of random operations, with their body broken a little (tests/fuzz/mutate.py)."""
    model = load_service_model(service)
    operations = [operation for operation in map(model.operation_model, SERVED[service])
                  if has_document_body(operation)]
    calm = InputStrategies(fuzz.anchors, protocol=model.metadata["protocol"], hostile=0)
    signing_name = model.signing_name or service
    start = len(fuzz.score.findings)

    @settings(max_examples=MUTATED_EXAMPLES, derandomize=SEED is None, deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(st.data())
    def fuzz_body(data: st.DataObject) -> None:
        operation = data.draw(st.sampled_from(operations))
        case = serialized(operation, data.draw(calm.input(operation)))
        if case is None or not case.body:
            fuzz.score.unsendable += 1
            return
        body = data.draw(mutated(case.body))
        headers = case.headers
        if service == "s3":  # S3 wants an integrity header on configuration bodies before it parses them
            headers += (("content-md5", base64.b64encode(hashlib.md5(body).digest()).decode()),)
        fuzz.send_raw(dataclasses.replace(case, body=body, headers=headers), signing_name)

    if SEED is not None:
        fuzz_body = seed(int(SEED))(fuzz_body)
    fuzz_body()
    assert len(fuzz.score.findings) == start, _findings_since(fuzz, start)


def test_cloud_still_answers_and_report(fuzz: Fuzz, capsys: pytest.CaptureFixture[str]) -> None:
    """The cloud survived, and the numbers of the campaign (the issue's closing note quotes them)."""
    assert fuzz.cloud.client("sts").get_caller_identity()["Account"] == fuzz.cloud.account_id
    score = fuzz.score
    with capsys.disabled():
        print(f"\nfuzz {dt.datetime.now(dt.UTC):%Y-%m-%d}: {score.sent} requests over {len(OPERATIONS)} operations "
              f"({EXAMPLES} typed examples each) and {sum(len(c) for c in RAW.values())} raw cases; "
              f"{score.server_errors} responses >= 500 ({fuzz.not_implemented} of them S3 501 NotImplemented); "
              f"{score.unsendable} inputs botocore refused to serialize; {score.state_checks} refused mutating calls "
              f"checked for state changes; statuses {dict(sorted(score.statuses.items()))}; "
              f"S3 NotImplemented from {dict(fuzz.not_implemented_where)}; "
              f"most frequent codes {score.codes.most_common(15)}")
    assert score.server_errors == fuzz.not_implemented
    assert not score.findings, _findings_since(fuzz, 0)
