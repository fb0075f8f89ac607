"""The console's AMIs and key pairs pages in a real browser against a real ``cloudlet up``: the built-in
image listed, a key pair created through the page whose private key arrives as Chromium's own download and
matches the fingerprint EC2 lists, and a read-only user's disabled buttons."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.console import test_console_browser as instance_pages
from tests.console.conftest import give_login_profile, screenshot, sign_in
from tests.e2e.helpers import Cleanup
from tests.support import CloudletProcess, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

By: Any = pytest.importorskip("selenium.webdriver.common.by").By
Select: Any = pytest.importorskip("selenium.webdriver.support.select").Select

image_id, signed_in_as_root = instance_pages.image_id, instance_pages.signed_in_as_root


def aws_fingerprint(private_pem: bytes) -> str:
    """AWS's fingerprint of a key pair it created: the SHA-1 of the PKCS#8 DER private key, colon hex (an
    imported key's is the MD5 of its public key instead: controller/ec2/instances/keypairs.py)."""
    key = serialization.load_pem_private_key(private_pem, None)
    assert isinstance(key, rsa.RSAPrivateKey)
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return ":".join(f"{b:02x}" for b in hashlib.sha1(der).digest())  # noqa: S324 - AWS's definition


def test_the_amis_page_lists_the_image_and_links_the_launch_form(
        browser: Any, console: str, cloudlet: CloudletProcess, root_password: str, image_id: str) -> None:
    signed_in_as_root(browser, console, cloudlet, root_password)
    browser.get(f"{console}/ec2/instances")
    browser.find_element(By.CSS_SELECTOR, "#ec2-nav").find_element(By.LINK_TEXT, "AMIs").click()
    described = cloudlet.client("ec2").describe_images(ImageIds=[image_id])["Images"][0]
    row = browser.find_element(By.ID, f"image-{image_id}").text
    assert "available" in row and described["Architecture"] in row
    assert (described.get("ImageOwnerAlias") or described["OwnerId"]) in row  # "amazon" when built in
    browser.find_element(By.ID, f"launch-{image_id}").click()
    wait_for(lambda: "/ec2/instances/launch" in browser.current_url, timeout=10, what="the launch form")
    assert Select(browser.find_element(By.ID, "image_id")).first_selected_option.get_attribute("value") \
        == image_id


def test_a_key_pair_created_on_the_page_downloads_its_private_key_once(
        browser: Any, console: str, cloudlet: CloudletProcess, root_password: str, unique: str,
        tmp_path: Path) -> None:
    ec2 = cloudlet.client("ec2")
    name = f"{unique}-console"
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    try:
        signed_in_as_root(browser, console, cloudlet, root_password)
        browser.get(f"{console}/ec2/key-pairs")
        browser.find_element(By.CSS_SELECTOR, "details.panel summary").click()
        browser.find_element(By.ID, "key-name").send_keys(name)
        browser.find_element(By.ID, "create-key-pair").click()
        saved = downloads / f"{name}.pem"
        wait_for(saved.exists, timeout=10, what="the private key's download")
        described = ec2.describe_key_pairs(KeyNames=[name])["KeyPairs"][0]
        assert aws_fingerprint(saved.read_bytes()) == described["KeyFingerprint"]
        browser.get(f"{console}/ec2/key-pairs")
        row = browser.find_element(By.ID, f"key-pair-{described['KeyPairId']}").text
        assert name in row and described["KeyFingerprint"] in row and "rsa" in row
        assert "PRIVATE KEY" not in browser.page_source  # shown nowhere, downloaded once
        screenshot(browser, "console-key-pairs")
    finally:
        ec2.delete_key_pair(KeyName=name)


def test_a_read_only_user_sees_create_and_delete_disabled(browser: Any, console: str,
                                                           cloudlet: CloudletProcess, unique: str) -> None:
    iam, ec2 = cloudlet.client("iam"), cloudlet.client("ec2")
    cleanup = Cleanup(iam)
    user = f"{unique}-reader"
    key_pair_id = ec2.create_key_pair(KeyName=f"{unique}-ro")["KeyPairId"]
    try:
        iam.create_user(UserName=user)
        cleanup.users.append(user)
        iam.attach_user_policy(UserName=user, PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
        sign_in(browser, console, cloudlet.account_id, user, give_login_profile(iam, user))
        wait_for(lambda: browser.find_elements(By.ID, "signed-in-as"), timeout=10, what="the overview")
        browser.get(f"{console}/ec2/key-pairs")
        assert f"{unique}-ro" in browser.find_element(By.ID, f"key-pair-{key_pair_id}").text
        for button in ("create-key-pair", "import-key-pair", f"delete-{key_pair_id}"):
            assert not browser.find_element(By.ID, button).is_enabled(), button
        assert "ec2:DeleteKeyPair" in browser.find_element(By.ID, f"delete-{key_pair_id}").get_attribute("title")
    finally:
        cleanup.run()
        ec2.delete_key_pair(KeyPairId=key_pair_id)
