"""The console's S3, IAM and CloudTrail pages, and sign-in with MFA, in a real browser against a real
``cloudlet up``.

Uploads and downloads go from the browser straight to S3 through URLs the console presigned with the
session's credentials, so the test checks the bytes that arrive on disk through Chromium's own download,
not a copy the console served.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from botocore.exceptions import ClientError

from tests.console.conftest import fresh, give_login_profile, screenshot, sign_in
from tests.e2e.helpers import Cleanup
from tests.support import CloudletProcess, Credentials, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

By: Any = pytest.importorskip("selenium.webdriver.common.by").By
exceptions: Any = pytest.importorskip("selenium.common.exceptions")
Select: Any = pytest.importorskip("selenium.webdriver.support.select").Select

UPLOAD_BYTES = 3 * 1024 * 1024 + 123


def signed_in_as_root(browser: Any, console: str, cloudlet: CloudletProcess, password: str) -> None:
    sign_in(browser, console, cloudlet.account_id, "root", password)
    wait_for(lambda: browser.find_elements(By.ID, "signed-in-as"), timeout=10, what="the overview")


def follow(browser: Any, by: str, value: str) -> None:
    """Click a link or submit button and wait for the next page: a click returns before the navigation it
    starts has replaced the page, so a lookup right after it could still read the old one."""
    old = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(by, value).click()

    def replaced() -> bool:
        try:
            old.is_enabled()
        except exceptions.StaleElementReferenceException:
            return browser.execute_script("return document.readyState") == "complete"
        return False

    wait_for(replaced, timeout=10, what=f"the page after {value}")


def set_value(browser: Any, element_id: str, text: str) -> None:
    """Fill a field at once (typing a policy key by key would only slow the test)."""
    browser.execute_script("document.getElementById(arguments[0]).value = arguments[1];", element_id, text)


@pytest.fixture
def bucket(cloudlet: CloudletProcess, unique: str) -> Iterator[str]:
    """A versioned bucket with one object in a folder, emptied and deleted after the test."""
    s3 = cloudlet.client("s3", s3={"addressing_style": "path"})
    name = f"{unique}-console"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=name, Key="docs/readme.txt", Body=b"in a folder")
    yield name
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
        for item in page.get("Versions", []) + page.get("DeleteMarkers", []):
            s3.delete_object(Bucket=name, Key=item["Key"], VersionId=item["VersionId"])
    s3.delete_bucket(Bucket=name)


def test_a_file_uploads_and_downloads_through_presigned_urls(
        browser: Any, console: str, cloudlet: CloudletProcess, root_password: str, bucket: str,
        tmp_path: Path) -> None:
    upload = tmp_path / "upload" / "big.bin"
    upload.parent.mkdir()
    upload.write_bytes(os.urandom(UPLOAD_BYTES))
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    signed_in_as_root(browser, console, cloudlet, root_password)
    browser.get_log("browser")  # what earlier pages logged
    browser.get(f"{console}/s3")
    follow(browser, By.LINK_TEXT, bucket)
    assert browser.find_element(By.LINK_TEXT, "docs/").is_displayed()  # a folder, not an object
    browser.find_element(By.ID, "upload-file").send_keys(str(upload))
    browser.find_element(By.ID, "upload-submit").click()
    wait_for(lambda: fresh(lambda: browser.find_element(By.ID, "upload-status").text) == "Uploaded big.bin.", timeout=20,
             what="the upload")
    value, maximum = browser.execute_script(
        "const p = document.getElementById('upload-progress'); return [p.hidden ? -1 : p.value, p.max];")
    assert value == maximum == UPLOAD_BYTES  # the bar, shown, counted every byte S3 received
    stored = cloudlet.client("s3", s3={"addressing_style": "path"}).get_object(Bucket=bucket, Key="big.bin")
    assert stored["Body"].read() == upload.read_bytes()
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "a[aria-label='Download big.bin']"), timeout=10,
             what="the listing after the upload")
    screenshot(browser, "s3-browser")
    problems = [entry["message"] for entry in browser.get_log("browser")
                if entry["level"] in ("SEVERE", "WARNING")]
    assert not problems  # no Content-Security-Policy violation, no failed request
    browser.find_element(By.CSS_SELECTOR, "a[aria-label='Download big.bin']").click()
    saved = downloads / "big.bin"
    wait_for(lambda: saved.exists() and saved.stat().st_size == UPLOAD_BYTES, timeout=20, what="the download")
    assert saved.read_bytes() == upload.read_bytes()
    follow(browser, By.ID, "versions-link")
    assert "big.bin" in browser.find_element(By.ID, "versions").text


def test_the_policy_and_cors_editors_show_s3s_errors_and_save_good_documents(
        browser: Any, console: str, cloudlet: CloudletProcess, root_password: str, bucket: str) -> None:
    s3 = cloudlet.client("s3", s3={"addressing_style": "path"})
    signed_in_as_root(browser, console, cloudlet, root_password)
    browser.get(f"{console}/s3/{bucket}/policy")
    assert browser.find_element(By.TAG_NAME, "h1").text == f"Bucket policy of {bucket}"
    set_value(browser, "policy", '{"Version": "2012-10-17", "Statement": [')
    follow(browser, By.ID, "save")
    assert browser.find_element(By.ID, "api-error").text.startswith("MalformedPolicy: ")
    good = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{cloudlet.account_id}:root"},
        "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}]}
    set_value(browser, "policy", json.dumps(good))
    follow(browser, By.ID, "save")
    assert browser.find_element(By.CSS_SELECTOR, ".notice").text == "Bucket policy saved."
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"][0]["Action"] == "s3:GetObject"
    browser.get(f"{console}/s3/{bucket}/cors")
    set_value(browser, "cors", "<CORSConfiguration><CORSRule><MaxAgeSeconds>soon</MaxAgeSeconds>")
    follow(browser, By.ID, "save")
    assert browser.find_element(By.ID, "api-error").text.startswith("MalformedXML: ")
    set_value(browser, "cors", "<CORSConfiguration><CORSRule><AllowedOrigin>https://example.com</AllowedOrigin>"
                               "<AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>")
    follow(browser, By.ID, "save")
    assert browser.find_element(By.CSS_SELECTOR, ".notice").text == "CORS configuration saved."
    assert "<AllowedOrigin>https://example.com</AllowedOrigin>" in browser.find_element(By.ID, "cors").get_attribute(
        "value")  # read back from GetBucketCors
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"][0]["AllowedOrigins"] == ["https://example.com"]


def test_a_policy_with_a_bad_document_is_refused_with_iams_message_and_a_good_one_created(
        browser: Any, console: str, cloudlet: CloudletProcess, root_password: str, unique: str) -> None:
    iam = cloudlet.client("iam")
    signed_in_as_root(browser, console, cloudlet, root_password)
    browser.get(f"{console}/iam/policies")
    follow(browser, By.ID, "create-policy")
    browser.find_element(By.ID, "name").send_keys(unique)
    set_value(browser, "document", json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow"}]}))
    follow(browser, By.ID, "create")
    error = browser.find_element(By.ID, "api-error").text
    assert error.startswith("MalformedPolicyDocument: ")
    good = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
    set_value(browser, "document", json.dumps(good))
    follow(browser, By.ID, "create")
    arn = browser.find_element(By.ID, "policy-arn").text
    try:
        assert browser.find_element(By.CSS_SELECTOR, ".notice").text == "Policy created."
        assert arn == f"arn:aws:iam::{cloudlet.account_id}:policy/{unique}"
        assert json.loads(browser.find_element(By.ID, "policy-document").text) == good
    finally:
        iam.delete_policy(PolicyArn=arn)


def test_the_simulator_shows_allowed_and_denied_for_a_user(
        browser: Any, console: str, cloudlet: CloudletProcess, root_password: str, unique: str) -> None:
    iam = cloudlet.client("iam")
    cleanup = Cleanup(iam)
    user = f"{unique}-sim"
    arn = iam.create_user(UserName=user)["User"]["Arn"]
    cleanup.users.append(user)
    try:
        iam.put_user_policy(UserName=user, PolicyName="list-only", PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}]}))
        signed_in_as_root(browser, console, cloudlet, root_password)
        browser.get(f"{console}/iam/users/{user}")
        assert "list-only" in browser.find_element(By.ID, "main").text
        follow(browser, By.LINK_TEXT, "Policy simulator")
        Select(browser.find_element(By.ID, "principal")).select_by_value(arn)
        browser.find_element(By.ID, "actions").send_keys("s3:ListBucket\ns3:DeleteBucket")
        follow(browser, By.ID, "simulate")
        rows = {row.find_element(By.TAG_NAME, "th").text: row
                for row in browser.find_elements(By.CSS_SELECTOR, "#results tbody tr")}
        decision = {action: row.find_element(By.CSS_SELECTOR, "[data-decision]").get_attribute("data-decision")
                    for action, row in rows.items()}
        assert decision == {"s3:ListBucket": "allowed", "s3:DeleteBucket": "implicitDeny"}
        assert "list-only" in rows["s3:ListBucket"].text  # the matched statement's policy
        screenshot(browser, "iam-simulator")
    finally:
        cleanup.run()


def test_cloudtrail_lists_an_api_event_and_filters_by_event_name(
        browser: Any, console: str, cloudlet: CloudletProcess, root_password: str, unique: str) -> None:
    iam = cloudlet.client("iam")
    cleanup = Cleanup(iam)
    group = f"{unique}-trail"
    iam.create_group(GroupName=group)
    cleanup.groups.append(group)
    try:
        signed_in_as_root(browser, console, cloudlet, root_password)
        browser.get(f"{console}/cloudtrail")
        assert browser.find_elements(By.CSS_SELECTOR, "#events tr.event")
        Select(browser.find_element(By.ID, "attribute")).select_by_value("EventName")
        browser.find_element(By.ID, "value").send_keys("CreateGroup")
        follow(browser, By.ID, "filter")
        rows = browser.find_elements(By.CSS_SELECTOR, "#events tr.event")
        assert rows and {row.get_attribute("data-event-name") for row in rows} == {"CreateGroup"}
        assert any(group in row.text and "root" in row.text for row in rows)
        screenshot(browser, "cloudtrail")
        follow(browser, By.LINK_TEXT, "CreateGroup")
        assert group in browser.find_element(By.ID, "main").text  # the event's record
    finally:
        cleanup.run()


def test_a_denied_event_offers_why_it_was_denied(browser: Any, console: str, cloudlet: CloudletProcess,
                                                 root_password: str, unique: str) -> None:
    iam = cloudlet.client("iam")
    cleanup = Cleanup(iam)
    user = f"{unique}-nobody"
    iam.create_user(UserName=user)
    cleanup.users.append(user)
    try:
        iam.put_user_policy(UserName=user, PolicyName="no-groups", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Sid": "NoGroups", "Effect": "Deny",
                                                    "Action": "iam:CreateGroup", "Resource": "*"}]}))
        key = iam.create_access_key(UserName=user)["AccessKey"]
        powerless = cloudlet.client("iam", Credentials(key["AccessKeyId"], key["SecretAccessKey"]))
        with pytest.raises(ClientError):
            powerless.create_group(GroupName=f"{unique}-denied")
        signed_in_as_root(browser, console, cloudlet, root_password)
        browser.get(f"{console}/cloudtrail?attribute=Username&value={user}")
        row = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#events tr[data-event-name=CreateGroup]"),
                       timeout=10, what="the denied event")[0]
        assert "AccessDenied" in row.text
        follow(browser, By.CSS_SELECTOR, "#events tr[data-event-name=CreateGroup] a")
        why = browser.find_element(By.ID, "why")
        assert why.find_element(By.TAG_NAME, "h2").text == "Why was this denied?"
        sentence = why.find_element(By.ID, "why-sentence").text
        assert sentence.startswith("Denied explicitly by") and "NoGroups" in sentence and "no-groups" in sentence
        assert why.find_element(By.ID, "why-verdict").text == "explicit-deny"
        screenshot(browser, "denied-explanation")
    finally:
        cleanup.run()


@pytest.fixture
def mfa_user(cloudlet: CloudletProcess, unique: str) -> Iterator[tuple[str, str, pyotp.TOTP]]:
    """An IAM user with a console password and an enabled virtual MFA device, and its authenticator."""
    iam = cloudlet.client("iam")
    cleanup = Cleanup(iam)
    user = f"{unique}-mfa"
    iam.create_user(UserName=user)
    cleanup.users.append(user)
    password = give_login_profile(iam, user)
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName=user)["VirtualMFADevice"]
    serial = device["SerialNumber"]
    totp = pyotp.TOTP(device["Base32StringSeed"].decode())
    into_step = time.time() % totp.interval
    if into_step > totp.interval - 3:  # the two codes must belong to the step the server sees as current
        time.sleep(totp.interval - into_step + 0.2)
    now = dt.datetime.now(dt.UTC)
    iam.enable_mfa_device(UserName=user, SerialNumber=serial,
                          AuthenticationCode1=totp.at(now - dt.timedelta(seconds=totp.interval)),
                          AuthenticationCode2=totp.at(now))
    try:
        yield user, password, totp
    finally:
        with contextlib.suppress(ClientError):
            iam.deactivate_mfa_device(UserName=user, SerialNumber=serial)
        iam.delete_virtual_mfa_device(SerialNumber=serial)
        cleanup.run()


def test_a_user_with_mfa_is_asked_for_a_code_and_a_wrong_one_is_refused(
        browser: Any, console: str, cloudlet: CloudletProcess, mfa_user: tuple[str, str, pyotp.TOTP]) -> None:
    user, password, totp = mfa_user
    sign_in(browser, console, cloudlet.account_id, user, password)
    code_field = wait_for(lambda: browser.find_elements(By.ID, "mfa_code"), timeout=10,
                          what="the MFA step")[0]  # the password was right: now the code
    assert not browser.find_elements(By.ID, "signed-in-as")
    fresh = totp.at(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=totp.interval))  # enabling spent the current
    wrong = next(code for code in ("000000", "111111", "222222")
                 if code not in (fresh, totp.now(), totp.at(time.time() - totp.interval)))
    code_field.send_keys(wrong)
    follow(browser, By.CSS_SELECTOR, "form button[type=submit]")
    assert "incorrect" in browser.find_element(By.CSS_SELECTOR, ".error").text
    assert browser.get_cookie("cloudlet_console") is None
    browser.find_element(By.ID, "mfa_code").send_keys(fresh)
    follow(browser, By.CSS_SELECTOR, "form button[type=submit]")
    wait_for(lambda: browser.find_elements(By.ID, "signed-in-as"), timeout=10, what="the overview")
    assert browser.find_element(By.ID, "signed-in-as").text == f"{user} @ {cloudlet.account_id}"
