"""The web console in a real browser against a real ``cloudlet up``: sign-in, sessions, CSRF, and the EC2
instance pages as the root user and as a read-only IAM user.

No VM boots: a fake host registers through the agent RPC (as tests/e2e/test_ec2_instances_api.py does), so
RunInstances places instances that stay pending, which is all the pages need.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError

from tests.console.conftest import fresh, give_login_profile, screenshot, session_of, sign_in
from tests.e2e.helpers import Cleanup, agent_rpc
from tests.support import CloudletProcess, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

By: Any = pytest.importorskip("selenium.webdriver.common.by").By
Keys: Any = pytest.importorskip("selenium.webdriver.common.keys").Keys


@pytest.fixture(scope="module")
def fake_host(cloudlet: CloudletProcess) -> str:
    """A registered host with room for instances, where nothing runs."""
    host_id = "h-console0fake0"
    agent_rpc(cloudlet, "POST", "/hosts", {
        "host_id": host_id, "hostname": "console-no-vms", "zone": "home-1a", "vcpus": 16, "memory_mib": 65536,
        "disk_gib": 200, "hypervisor": "qemu", "agent_version": "test", "capabilities": ["compute"]})
    return host_id


@pytest.fixture(scope="module")
def image_id(cloudlet: CloudletProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A built-in AMI when images/ built one; otherwise a blank disk registered for the tests (no boots)."""
    ec2 = cloudlet.client("ec2")
    built = ec2.describe_images(Owners=["amazon"])["Images"]
    if built:
        yield built[0]["ImageId"]
        return
    disk = tmp_path_factory.mktemp("console-image") / "blank.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "64M"], check=True)
    registered = ec2.register_image(Name="console-blank", ImageLocation=str(disk))["ImageId"]
    yield registered
    ec2.deregister_image(ImageId=registered)


@pytest.fixture
def instance(cloudlet: CloudletProcess, fake_host: str, image_id: str, unique: str) -> Iterator[str]:
    """An instance launched through the API (root's boto3), terminated after the test."""
    ec2 = cloudlet.client("ec2")
    launched = ec2.run_instances(ImageId=image_id, InstanceType="t3.micro", MinCount=1, MaxCount=1,
                                 Placement={"AvailabilityZone": "home-1a"},
                                 TagSpecifications=[{"ResourceType": "instance",
                                                     "Tags": [{"Key": "Name", "Value": unique}]}])
    instance_id = launched["Instances"][0]["InstanceId"]
    yield instance_id
    ec2.terminate_instances(InstanceIds=[instance_id])


def test_signed_path_style_calls_to_a_bucket_named_console_still_reach_s3(cloudlet: CloudletProcess) -> None:
    s3 = cloudlet.client("s3", s3={"addressing_style": "path"})
    s3.create_bucket(Bucket="console")
    try:
        s3.put_object(Bucket="console", Key="signin", Body=b"an object, not a page")
        assert s3.get_object(Bucket="console", Key="signin")["Body"].read() == b"an object, not a page"
        listed = s3.list_objects_v2(Bucket="console")["Contents"]
        assert [item["Key"] for item in listed] == ["signin"]
        url = s3.generate_presigned_url("get_object", Params={"Bucket": "console", "Key": "signin"})
        assert requests.get(url, timeout=10).content == b"an object, not a page"
    finally:
        s3.delete_object(Bucket="console", Key="signin")
        s3.delete_bucket(Bucket="console")


def signed_in_as_root(browser: Any, console: str, cloudlet: CloudletProcess, password: str) -> None:
    sign_in(browser, console, cloudlet.account_id, "root", password)
    wait_for(lambda: browser.find_elements(By.ID, "signed-in-as"), timeout=10, what="the overview")


def test_root_signs_in_and_sees_the_hosts(browser: Any, console: str, cloudlet: CloudletProcess,
                                          root_password: str, fake_host: str) -> None:
    signed_in_as_root(browser, console, cloudlet, root_password)
    assert browser.find_element(By.ID, "signed-in-as").text == f"root @ {cloudlet.account_id}"
    hosts = browser.find_element(By.ID, "hosts").text
    assert "console-no-vms" in hosts and "home-1a" in hosts and "TCG" in hosts
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)  # the keyboard's first stop skips the menus
    assert browser.switch_to.active_element.text == "Skip to content"
    cookie = browser.get_cookie("cloudlet_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/console"
    screenshot(browser, "console-overview")


def test_a_wrong_password_is_refused(browser: Any, console: str, cloudlet: CloudletProcess) -> None:
    sign_in(browser, console, cloudlet.account_id, "root", "not-the-password")
    refusal = wait_for(lambda: browser.find_elements(By.ID, "signin-error"), timeout=10, what="the refusal")
    assert "incorrect" in refusal[0].text
    assert browser.get_cookie("cloudlet_console") is None
    browser.get(f"{console}/")
    assert browser.current_url.endswith("/console/signin")


def test_a_post_without_the_csrf_token_is_refused(browser: Any, console: str, cloudlet: CloudletProcess,
                                                  root_password: str, instance: str) -> None:
    signed_in_as_root(browser, console, cloudlet, root_password)
    http = session_of(browser)
    action = f"{console}/ec2/instances/{instance}/stop"
    assert http.post(action, data={}).status_code == 403
    assert http.post(action, data={"_csrf": "forged"}).status_code == 403
    assert http.post(action, headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert http.post(f"{console}/signout", data={}).status_code == 403
    assert described_instance(cloudlet, instance)["State"]["Name"] == "pending"  # nothing was done
    assert http.get(f"{console}/", allow_redirects=False).status_code == 200  # and the session still works
    browser.get(f"{console}/ec2/instances")
    token = browser.find_element(By.CSS_SELECTOR, f"#row-{instance} input[name=_csrf]").get_attribute("value")
    done = http.post(f"{console}/ec2/instances/{instance}/terminate", headers={"X-CSRF-Token": token},
                     allow_redirects=False)  # htmx's way of sending it
    assert done.status_code == 303
    response = http.get(f"{console}/")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_after_sign_out_the_cookie_no_longer_works(browser: Any, console: str, cloudlet: CloudletProcess,
                                                   root_password: str) -> None:
    signed_in_as_root(browser, console, cloudlet, root_password)
    http = session_of(browser)
    assert http.get(f"{console}/", allow_redirects=False).status_code == 200
    browser.find_element(By.CSS_SELECTOR, ".who button").click()
    wait_for(lambda: browser.current_url.split("?")[0].endswith("/console/signin"), timeout=10,
             what="sign-out")
    refused = http.get(f"{console}/", allow_redirects=False)
    assert refused.status_code == 302 and refused.headers["Location"].endswith("/console/signin")


def test_the_instances_page_lists_and_follows_an_instance_launched_through_the_api(
        browser: Any, console: str, cloudlet: CloudletProcess, root_password: str, instance: str) -> None:
    signed_in_as_root(browser, console, cloudlet, root_password)
    browser.get_log("browser")  # what earlier pages logged
    browser.get(f"{console}/ec2/instances")
    row = browser.find_element(By.ID, f"row-{instance}")
    described = described_instance(cloudlet, instance)
    for shown in ("pending", "t3.micro", "home-1a", described["PrivateIpAddress"],
                  described["PublicIpAddress"]):
        assert shown in row.text
    assert browser.find_element(By.ID, f"stop-{instance}").is_enabled()
    assert not browser.find_element(By.ID, f"start-{instance}").is_enabled()  # not while pending
    screenshot(browser, "console-instances")
    problems = [entry["message"] for entry in browser.get_log("browser")
                if entry["level"] in ("SEVERE", "WARNING")]
    assert not problems  # no Content-Security-Policy violation, no missing script
    browser.find_element(By.LINK_TEXT, instance).click()  # its console output: none reported, nothing boots
    assert browser.find_element(By.TAG_NAME, "h1").text == f"Console output of {instance}"
    assert "not reported any console output" in browser.find_element(By.ID, "main").text
    browser.back()
    cloudlet.client("ec2").terminate_instances(InstanceIds=[instance])  # the page polls: no reload
    wait_for(lambda: fresh(lambda: browser.find_element(By.CSS_SELECTOR, f"#row-{instance} .state").text)
             in ("shutting-down", "terminated"), timeout=15, what="the polled state")
    terminate = f"terminate-{instance}"
    wait_for(lambda: fresh(lambda: browser.find_element(By.ID, terminate).is_enabled()) is False, timeout=5,
             what="Terminate to be disabled")


def described_instance(cloudlet: CloudletProcess, instance_id: str) -> dict[str, Any]:
    """The instance as the API (root's boto3) describes it."""
    reservations = cloudlet.client("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"]
    return reservations[0]["Instances"][0]


def test_a_button_acts_through_the_api(browser: Any, console: str, cloudlet: CloudletProcess,
                                       root_password: str, instance: str) -> None:
    signed_in_as_root(browser, console, cloudlet, root_password)
    browser.get(f"{console}/ec2/instances")
    browser.find_element(By.ID, f"terminate-{instance}").click()
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".notice"), timeout=10, what="the notice")
    assert browser.find_element(By.CSS_SELECTOR, ".notice").text == f"Terminating {instance}."
    assert described_instance(cloudlet, instance)["State"]["Name"] in ("shutting-down", "terminated")


def test_the_launch_form_runs_an_instance(browser: Any, console: str, cloudlet: CloudletProcess,
                                          root_password: str, fake_host: str, image_id: str,
                                          unique: str) -> None:
    signed_in_as_root(browser, console, cloudlet, root_password)
    browser.get(f"{console}/ec2/instances/launch")
    browser.find_element(By.ID, "name").send_keys(unique)
    browser.find_element(By.CSS_SELECTOR, f"#image_id option[value='{image_id}']").click()
    browser.find_element(By.ID, "user_data").send_keys("#!/bin/sh\necho hello\n")
    screenshot(browser, "console-launch")
    browser.find_element(By.ID, "launch-submit").click()
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".notice"), timeout=15, what="the launch notice")
    notice = browser.find_element(By.CSS_SELECTOR, ".notice").text
    launched = re.fullmatch(r"Launched (i-[0-9a-f]+)\.", notice)
    assert launched
    ec2 = cloudlet.client("ec2")
    try:
        found = ec2.describe_instances(InstanceIds=[launched[1]])["Reservations"][0]["Instances"][0]
        assert {"Key": "Name", "Value": unique} in found["Tags"]
        events = cloudlet.client("cloudtrail").lookup_events(LookupAttributes=[
            {"AttributeKey": "ResourceName", "AttributeValue": launched[1]}])["Events"]
        # as the console session: its temporary key, as AWS records a console call
        assert any(event["EventName"] == "RunInstances" and event["Username"] == "root"
                   and event["AccessKeyId"].startswith("ASIA") for event in events)
    finally:
        ec2.terminate_instances(InstanceIds=[launched[1]])


def test_a_read_only_user_sees_buttons_disabled_and_a_forged_post_is_refused_by_the_api(
        browser: Any, console: str, cloudlet: CloudletProcess, instance: str, unique: str) -> None:
    iam = cloudlet.client("iam")
    cleanup = Cleanup(iam)
    user = f"{unique}-reader"
    iam.create_user(UserName=user)
    cleanup.users.append(user)
    try:
        iam.attach_user_policy(UserName=user, PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
        password = give_login_profile(iam, user)
        sign_in(browser, console, cloudlet.account_id, user, password)
        wait_for(lambda: browser.find_elements(By.ID, "signed-in-as"), timeout=10, what="the overview")
        assert not browser.find_elements(By.ID, "hosts")  # the cloud's hosts are not an account's to see
        browser.get(f"{console}/ec2/instances")
        for button in ("start", "stop", "reboot", "terminate"):
            element = browser.find_element(By.ID, f"{button}-{instance}")
            assert not element.is_enabled()
        assert "permissions do not allow ec2:StopInstances" in browser.find_element(
            By.ID, f"stop-{instance}").get_attribute("title")
        assert browser.find_element(By.ID, "launch").get_attribute("aria-disabled") == "true"
        screenshot(browser, "console-instances-read-only")
        token = browser.find_element(By.CSS_SELECTOR, f"#row-{instance} input[name=_csrf]"
                                     ).get_attribute("value")
        refused = session_of(browser).post(f"{console}/ec2/instances/{instance}/stop", data={"_csrf": token})
        assert refused.status_code == 403
        assert "UnauthorizedOperation" in refused.text and "You are not authorized" in refused.text
        assert described_instance(cloudlet, instance)["State"]["Name"] == "pending"
    finally:
        with contextlib.suppress(ClientError):  # the test may have failed before the profile was made
            iam.delete_login_profile(UserName=user)
        cleanup.run()
