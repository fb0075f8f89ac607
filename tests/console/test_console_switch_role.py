"""Switching role in a real browser against a real ``cloudlet up``: an IAM user switches to a role of its
account, acts as it (CloudTrail names the role session), goes back, and is refused a role that does not
trust it, in STS's words."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.console.conftest import PASSWORD, fresh, give_login_profile, screenshot, sign_in
from tests.e2e.helpers import Cleanup
from tests.support import CloudletProcess, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

By: Any = pytest.importorskip("selenium.webdriver.common.by").By


def trust(principal: dict[str, str]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": principal}]})


def allow(action: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action,
                                                               "Resource": "*"}]})


@pytest.fixture
def switcher(cloudlet: CloudletProcess, unique: str) -> Iterator[str]:
    """An IAM user allowed only sts:AssumeRole, with a console password; two roles: ``<user>-lister`` (trusts
    the account, may list buckets) and ``<user>-closed`` (trusts only EC2)."""
    iam = cloudlet.client("iam")
    cleanup = Cleanup(iam)
    user = f"{unique}-switcher"
    try:
        iam.create_user(UserName=user)
        cleanup.users.append(user)
        iam.put_user_policy(UserName=user, PolicyName="assume", PolicyDocument=allow("sts:AssumeRole"))
        give_login_profile(iam, user)
        iam.create_role(RoleName=f"{user}-lister",
                        AssumeRolePolicyDocument=trust({"AWS": f"arn:aws:iam::{cloudlet.account_id}:root"}))
        cleanup.roles.append(f"{user}-lister")
        iam.put_role_policy(RoleName=f"{user}-lister", PolicyName="list", PolicyDocument=allow("s3:ListAllMyBuckets"))
        iam.create_role(RoleName=f"{user}-closed", AssumeRolePolicyDocument=trust({"Service": "ec2.amazonaws.com"}))
        cleanup.roles.append(f"{user}-closed")
        yield user
    finally:
        cleanup.run()


def switch_to(browser: Any, console: str, account: str, role: str, display_name: str = "",
              colour: str = "") -> None:
    browser.get(f"{console}/switchrole")
    browser.find_element(By.ID, "account").send_keys(account)
    browser.find_element(By.ID, "role_name").send_keys(role)
    browser.find_element(By.ID, "display_name").send_keys(display_name)
    browser.find_element(By.CSS_SELECTOR, f"input[name=colour][value='{colour}']").click()
    browser.find_element(By.ID, "switch-submit").click()


def test_a_user_switches_to_a_role_acts_as_it_and_goes_back(browser: Any, console: str,
                                                             cloudlet: CloudletProcess, switcher: str) -> None:
    account = cloudlet.account_id
    sign_in(browser, console, account, switcher, PASSWORD)
    wait_for(lambda: browser.find_elements(By.ID, "signed-in-as"), timeout=10, what="the overview")
    browser.get(f"{console}/s3")
    assert "AccessDenied" in browser.find_element(By.ID, "main").text  # the user may not list buckets

    switch_to(browser, console, account, f"{switcher}-lister", "Lister", "green")
    wait_for(lambda: browser.find_elements(By.ID, "switch-back"), timeout=10, what="the role's header")
    assert browser.find_element(By.ID, "signed-in-as").text == \
        f"Lister {switcher}-lister @ {account} (via {switcher})"
    assert "role-green" in browser.find_element(By.CSS_SELECTOR, "#signed-in-as .role-badge").get_attribute("class")
    browser.get(f"{console}/s3")
    assert "AccessDenied" not in browser.find_element(By.ID, "main").text  # the role may
    session_arn = f"arn:aws:sts::{account}:assumed-role/{switcher}-lister/{switcher}"

    def listed_as_the_role() -> bool:
        events = cloudlet.client("cloudtrail").lookup_events(LookupAttributes=[
            {"AttributeKey": "EventName", "AttributeValue": "ListBuckets"}], MaxResults=50)["Events"]
        return any(json.loads(event["CloudTrailEvent"])["userIdentity"].get("arn") == session_arn
                   for event in events)
    wait_for(listed_as_the_role, timeout=10, what="CloudTrail's ListBuckets by the role session")

    browser.get(f"{console}/switchrole")
    browser.find_element(By.CSS_SELECTOR, ".who details.roles summary").click()  # the quick-switch menu
    screenshot(browser, "console-switch-role")
    browser.find_element(By.ID, "switch-back").click()
    wait_for(lambda: fresh(lambda: browser.find_element(By.ID, "signed-in-as").text) == f"{switcher} @ {account}",
             timeout=10, what="the user's header")
    assert not browser.find_elements(By.ID, "switch-back")

    switch_to(browser, console, account, f"{switcher}-closed")
    refusal = wait_for(lambda: browser.find_elements(By.ID, "switch-error"), timeout=10,
                       what="the refusal on the form")[0].text
    assert "AccessDenied" in refusal
    assert f"is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::{account}:role/" in refusal
    assert browser.find_element(By.ID, "signed-in-as").text == f"{switcher} @ {account}"
