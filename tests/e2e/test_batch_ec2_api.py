"""Batch on EC2 through the API alone (no VM: instances stay ``pending`` without a host): the scaler's
RunInstances (tags, profile, subnet, groups, the ``ECS_CLUSTER`` user data, ``desiredvCpus``, CloudTrail's
``invokedBy``), and the container agent's calls as the instance's role session: who may register, Poll's
task, SubmitTaskStateChange settling the job, then the idle instance terminated. A fake host gives the
instances room and offers Batch capacity the job must not take. The VM test (``test_batch_ec2.py``) runs the same protocol with the real agent inside real instances.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.helpers import agent_rpc
from tests.support import CloudletProcess, Credentials, wait_for

ZONE = "home-1a"
ECS_ROLE_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudletProcess]:
    data = tmp_path_factory.mktemp("batch-ec2-api") / "data"
    data.mkdir()
    (data / "cloudlet.json").write_text(json.dumps({"batch_scale_down_delay_seconds": 1}))
    process = CloudletProcess(data).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(autouse=True)
def room(cloud: CloudletProcess) -> None:
    """A fake host, registered afresh by each test (a host unheard of for long is down): room for instances
    (which never boot: nothing runs them), and an offer to run Batch containers that an EC2 environment's
    jobs must never take."""
    agent_rpc(cloud, "POST", "/hosts", {
        "host_id": "h-batch-ec2-fake", "hostname": "no-vms", "zone": ZONE, "vcpus": 8, "memory_mib": 16384,
        "disk_gib": 100, "hypervisor": "qemu", "agent_version": "test", "capabilities": ["compute", "batch"]})


def _lab(cloud: CloudletProcess, unique: str) -> dict[str, Any]:
    ec2, iam, batch = cloud.client("ec2"), cloud.client("iam"), cloud.client("batch")
    vpc = ec2.create_vpc(CidrBlock="10.94.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.94.1.0/24", AvailabilityZone=ZONE)["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName=unique, Description="batch", VpcId=vpc)["GroupId"]
    # EC2 assumes the role for the instance; here the account does, naming the session as EC2 would.
    role = iam.create_role(RoleName=unique, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"},
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{cloud.account_id}:root"},
             "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    iam.attach_role_policy(RoleName=unique, PolicyArn=ECS_ROLE_POLICY)
    iam.create_instance_profile(InstanceProfileName=unique)
    iam.add_role_to_instance_profile(InstanceProfileName=unique, RoleName=unique)
    env = batch.create_compute_environment(computeEnvironmentName=unique, type="MANAGED", computeResources={
        "type": "EC2", "minvCpus": 0, "maxvCpus": 4, "instanceTypes": ["optimal"], "subnets": [subnet],
        "securityGroupIds": [group], "instanceRole": unique, "tags": {"owner": unique}})["computeEnvironmentArn"]
    queue = batch.create_job_queue(jobQueueName=unique, priority=1, computeEnvironmentOrder=[
        {"order": 1, "computeEnvironment": env}])["jobQueueArn"]
    s3 = cloud.client("s3")
    s3.create_bucket(Bucket=unique)
    s3.put_object(Bucket=unique, Key="image.tar", Body=b"an archive the agent would unpack")
    job_role = iam.create_role(RoleName=f"{unique}-job", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    cloud.client("ssm").put_parameter(Name=f"/{unique}/token", Value="s3cr3t", Type="SecureString")
    execution = iam.create_role(RoleName=f"{unique}-exec", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    iam.put_role_policy(RoleName=f"{unique}-exec", PolicyName="read", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["ssm:GetParameters", "s3:GetObject"],
                                                "Resource": "*"}]}))
    definition = batch.register_job_definition(jobDefinitionName=unique, type="container", containerProperties={
        "image": f"s3://{unique}/image.tar", "command": ["true"], "jobRoleArn": job_role,
        "executionRoleArn": execution, "secrets": [{"name": "TOKEN", "valueFrom": f"/{unique}/token"}],
        "resourceRequirements": [{"type": "VCPU", "value": "2"}, {"type": "MEMORY", "value": "64"}]})
    return {"env": env, "queue": queue, "definition": definition["jobDefinitionArn"], "role": role,
            "subnet": subnet, "group": group}


def _as_instance(cloud: CloudletProcess, role: str, session: str) -> Any:
    """An ecs client signing as a session of ``role`` named ``session`` (as EC2 names an instance's), assumed by a
    user allowed to (a root user may not assume roles)."""
    iam, user = cloud.client("iam"), f"assumer-{session}"
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="assume", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role}]}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    sts = cloud.client("sts", Credentials(key["AccessKeyId"], key["SecretAccessKey"]))
    answer = wait_for(lambda: _assumed(sts, role, session), timeout=10, what="the new user's key to work")
    return cloud.client("ecs", Credentials(answer["AccessKeyId"], answer["SecretAccessKey"], answer["SessionToken"]))


def _assumed(sts: Any, role: str, session: str) -> dict[str, Any] | None:
    try:
        return dict(sts.assume_role(RoleArn=role, RoleSessionName=session)["Credentials"])
    except ClientError as error:
        if error.response["Error"]["Code"] != "InvalidClientTokenId":
            raise
        return None


def _instances(cloud: CloudletProcess, name: str, states: tuple[str, ...]) -> list[dict[str, Any]]:
    answer = cloud.client("ec2").describe_instances(Filters=[
        {"Name": "tag:AWSBatchServiceTag", "Values": [name]}, {"Name": "instance-state-name", "Values": list(states)}])
    return [instance for reservation in answer["Reservations"] for instance in reservation["Instances"]]


def test_scaler_launches_for_demand_and_the_instances_agent_runs_the_job(cloud: CloudletProcess,
                                                                            unique: str) -> None:
    lab = _lab(cloud, unique)
    batch, ec2 = cloud.client("batch"), cloud.client("ec2")
    job = batch.submit_job(jobName="one", jobQueue=lab["queue"], jobDefinition=lab["definition"])["jobId"]
    instance = wait_for(lambda: (found := _instances(cloud, unique, ("pending", "running"))) and found[0],
                        timeout=20, what="an instance launched for the job")
    assert len(_instances(cloud, unique, ("pending", "running"))) == 1  # one 2-vCPU job: one t3.micro
    assert instance["InstanceType"] == "t3.micro" and instance["SubnetId"] == lab["subnet"]
    assert [g["GroupId"] for g in instance["SecurityGroups"]] == [lab["group"]]
    assert instance["IamInstanceProfile"]["Arn"].endswith(f"instance-profile/{unique}")
    assert {t["Key"]: t["Value"] for t in instance["Tags"]} == {"owner": unique, "AWSBatchServiceTag": unique}
    detail = batch.describe_compute_environments(computeEnvironments=[lab["env"]])["computeEnvironments"][0]
    assert detail["computeResources"]["desiredvCpus"] == 2
    user_data = base64.b64decode(ec2.describe_instance_attribute(
        InstanceId=instance["InstanceId"], Attribute="userData")["UserData"]["Value"]).decode()
    assert f"ECS_CLUSTER={detail['ecsClusterArn']}" in user_data
    launched = [event for event in cloud.client("cloudtrail").lookup_events(LookupAttributes=[
        {"AttributeKey": "EventName", "AttributeValue": "RunInstances"}])["Events"]]
    assert any(json.loads(event["CloudTrailEvent"]).get("userAgent") == "batch.amazonaws.com"
               or json.loads(event["CloudTrailEvent"]).get("userIdentity", {}).get("invokedBy") == "batch.amazonaws.com"
               for event in launched)

    instance_id = instance["InstanceId"]
    document = json.dumps({"instanceId": instance_id, "region": cloud.region})
    resources = [{"name": "CPU", "type": "INTEGER", "integerValue": 2048},
                 {"name": "MEMORY", "type": "INTEGER", "integerValue": 200}]
    with pytest.raises(ClientError) as refused:  # another session of the role is not that instance
        _as_instance(cloud, lab["role"], "i-0000000000000000f").register_container_instance(
            cluster=detail["ecsClusterArn"], instanceIdentityDocument=document, totalResources=resources)
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    agent = _as_instance(cloud, lab["role"], instance_id)
    with pytest.raises(ClientError) as unknown:
        agent.register_container_instance(cluster="no-such-cluster", instanceIdentityDocument=document,
                                          totalResources=resources)
    assert unknown.value.response["Error"]["Code"] == "ClusterNotFoundException"
    registered = agent.register_container_instance(cluster=detail["ecsClusterArn"], instanceIdentityDocument=document,
                                                   totalResources=resources)["containerInstance"]
    assert registered["ec2InstanceId"] == instance_id

    def polled() -> list[dict[str, Any]]:
        return agent.poll(cluster=detail["ecsClusterArn"],
                          containerInstance=registered["containerInstanceArn"])["tasks"]

    task = wait_for(polled, timeout=20, what="the job placed on the registered instance")[0]
    spec = json.loads(task["definition"])
    assert spec["job_id"] == job and spec["command"] == ["true"] and task["desiredStatus"] == "RUNNING"
    assert task["imageDigest"].startswith("sha256:") and "/_cloudlet/lambda/code/" in task["imageUrl"]
    # the job role: its endpoint path in the job's environment, its session only when the agent asks for it
    path = spec["credentials"]["relative_uri"]
    assert spec["environment"]["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] == path and "roleCredentials" not in task
    session = agent.poll(cluster=detail["ecsClusterArn"], containerInstance=registered["containerInstanceArn"],
                         credentialsNeeded=[task["taskArn"]])["tasks"][0]["roleCredentials"]
    assert session["credentialsUri"] == path
    caller = cloud.client("sts", Credentials(session["accessKeyId"], session["secretAccessKey"],
                                             session["sessionToken"])).get_caller_identity()
    assert caller["Arn"].startswith(f"arn:aws:sts::{cloud.account_id}:assumed-role/{unique}-job/")
    # the secrets, read as the execution role only when the agent is about to start the task
    assert "secrets" not in task and "s3cr3t" not in task["definition"]  # references only
    answer = agent.poll(cluster=detail["ecsClusterArn"], containerInstance=registered["containerInstanceArn"],
                        secretsNeeded=[task["taskArn"]])["tasks"][0]
    assert answer["secrets"] == {"TOKEN": "s3cr3t"} and "secretsFailure" not in answer
    agent.submit_task_state_change(cluster=detail["ecsClusterArn"], task=task["taskArn"], status="RUNNING")
    assert batch.describe_jobs(jobs=[job])["jobs"][0]["status"] == "RUNNING"
    agent.submit_task_state_change(cluster=detail["ecsClusterArn"], task=task["taskArn"], status="STOPPED",
                                   containers=[{"containerName": "default", "exitCode": 0, "status": "STOPPED"}])
    assert batch.describe_jobs(jobs=[job])["jobs"][0]["status"] == "SUCCEEDED"

    wait_for(lambda: not _instances(cloud, unique, ("pending", "running")), timeout=20,
             what="the idle instance terminated")
    assert batch.describe_compute_environments(computeEnvironments=[lab["env"]])["computeEnvironments"][0][
        "computeResources"]["desiredvCpus"] == 0


def test_min_vcpus_keep_a_templated_spot_instance_until_the_environment_is_deleted(cloud: CloudletProcess, unique: str) -> None:
    batch = cloud.client("batch")
    subnet = cloud.client("ec2").create_subnet(VpcId=cloud.client("ec2").create_vpc(CidrBlock="10.95.0.0/16")[
        "Vpc"]["VpcId"], CidrBlock="10.95.1.0/24", AvailabilityZone=ZONE)["Subnet"]["SubnetId"]
    ec2 = cloud.client("ec2")
    ec2.create_key_pair(KeyName=unique, KeyType="ed25519")
    template = ec2.create_launch_template(LaunchTemplateName=unique, LaunchTemplateData={"KeyName": unique})[
        "LaunchTemplate"]["LaunchTemplateId"]
    batch.create_compute_environment(computeEnvironmentName=unique, type="MANAGED", computeResources={
        "type": "SPOT", "minvCpus": 2, "maxvCpus": 4, "instanceTypes": ["t3.micro"], "subnets": [subnet],
        "bidPercentage": 100, "launchTemplate": {"launchTemplateId": template}})
    kept = wait_for(lambda: _instances(cloud, unique, ("pending", "running")), timeout=20,
                    what="minvCpus' instance without any job")
    assert len(kept) == 1 and kept[0]["KeyName"] == unique  # launched from the environment's template
    assert kept[0]["InstanceLifecycle"] == "spot"  # a SPOT environment's capacity is Spot Instances
    requests = ec2.describe_spot_instance_requests(Filters=[
        {"Name": "instance-id", "Values": [kept[0]["InstanceId"]]}])["SpotInstanceRequests"]
    assert [request["Type"] for request in requests] == ["one-time"]
    batch.update_compute_environment(computeEnvironment=unique, state="DISABLED")
    batch.delete_compute_environment(computeEnvironment=unique)
    wait_for(lambda: not _instances(cloud, unique, ("pending", "running")), timeout=20,
             what="the deleted environment's instance terminated")


def test_an_unmanaged_environment_runs_jobs_on_the_instances_that_join_its_cluster(cloud: CloudletProcess,
                                                                                   unique: str) -> None:
    lab = _lab(cloud, unique)
    batch, ec2 = cloud.client("batch"), cloud.client("ec2")
    env = batch.create_compute_environment(computeEnvironmentName=f"{unique}-own", type="UNMANAGED")
    cluster = batch.describe_compute_environments(computeEnvironments=[env["computeEnvironmentArn"]])[
        "computeEnvironments"][0]["ecsClusterArn"]
    queue = batch.create_job_queue(jobQueueName=f"{unique}-own", priority=1, computeEnvironmentOrder=[
        {"order": 1, "computeEnvironment": env["computeEnvironmentArn"]}])["jobQueueArn"]
    job = batch.submit_job(jobName="mine", jobQueue=queue, jobDefinition=lab["definition"])["jobId"]
    image = ec2.describe_images(Owners=["amazon"], Filters=[{"Name": "name", "Values": ["cloudlet-tiny-*"]}])[
        "Images"][0]["ImageId"]
    own = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro", SubnetId=lab["subnet"],
                            IamInstanceProfile={"Name": unique})["Instances"][0]["InstanceId"]
    assert batch.describe_jobs(jobs=[job])["jobs"][0]["status"] == "RUNNABLE"  # nothing has joined yet
    agent = _as_instance(cloud, lab["role"], own)
    registered = agent.register_container_instance(
        cluster=cluster.rsplit("/", 1)[-1], instanceIdentityDocument=json.dumps({"instanceId": own}),
        totalResources=[{"name": "CPU", "type": "INTEGER", "integerValue": 2048},
                        {"name": "MEMORY", "type": "INTEGER", "integerValue": 200}])["containerInstance"]
    tasks = wait_for(lambda: agent.poll(cluster=cluster, containerInstance=registered["containerInstanceArn"])[
        "tasks"], timeout=20, what="the job placed on the instance that joined")
    assert [json.loads(task["definition"])["job_id"] for task in tasks] == [job]
    assert not _instances(cloud, f"{unique}-own", ("pending", "running"))  # an UNMANAGED one launches nothing
