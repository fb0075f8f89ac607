"""The console's VPC pages in a real browser against a real ``cloudlet up``: the live topology, the security
group editor (as root, and greyed out for a read-only user), and Reachability Analyzer run from its page.

No VM is needed: two network interfaces made with CreateNetworkInterface are the analysis' ends.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.console.conftest import give_login_profile, screenshot, sign_in
from tests.e2e.helpers import Cleanup
from tests.support import CloudletProcess, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

By: Any = pytest.importorskip("selenium.webdriver.common.by").By
Select: Any = pytest.importorskip("selenium.webdriver.support.ui").Select


@dataclass(frozen=True)
class Lab:
    """A VPC with one subnet, two groups (``web`` admits ``app``'s members on 443) and an interface in each."""

    vpc_id: str
    subnet_id: str
    app_group: str
    web_group: str
    app_eni: str
    web_eni: str


@pytest.fixture(scope="module")
def lab(cloudlet: CloudletProcess) -> Iterator[Lab]:
    ec2 = cloudlet.client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.77.1.0/24", AvailabilityZone="home-1a",
                                  TagSpecifications=[{"ResourceType": "subnet",
                                                      "Tags": [{"Key": "Name", "Value": "front"}]}])["Subnet"]["SubnetId"]
    app = ec2.create_security_group(VpcId=vpc_id, GroupName="app", Description="app servers")["GroupId"]
    web = ec2.create_security_group(VpcId=vpc_id, GroupName="web", Description="web servers")["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=web, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "UserIdGroupPairs": [{"GroupId": app}]}])
    app_eni = ec2.create_network_interface(SubnetId=subnet_id, Groups=[app])["NetworkInterface"]["NetworkInterfaceId"]
    web_eni = ec2.create_network_interface(SubnetId=subnet_id, Groups=[web])["NetworkInterface"]["NetworkInterfaceId"]
    yield Lab(vpc_id, subnet_id, app, web, app_eni, web_eni)
    for eni in (app_eni, web_eni):
        ec2.delete_network_interface(NetworkInterfaceId=eni)
    for group in (web, app):
        ec2.delete_security_group(GroupId=group)
    ec2.delete_subnet(SubnetId=subnet_id)
    ec2.delete_vpc(VpcId=vpc_id)


def signed_in_as_root(browser: Any, console: str, cloudlet: CloudletProcess, password: str) -> None:
    sign_in(browser, console, cloudlet.account_id, "root", password)
    wait_for(lambda: browser.find_elements(By.ID, "signed-in-as"), timeout=10, what="the overview")


def severe_logs(browser: Any) -> list[str]:
    """What the page logged as an error or warning (a CSP violation, a missing script)."""
    return [entry["message"] for entry in browser.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")]


def test_the_topology_shows_a_subnet_created_through_the_api_without_a_reload(
        browser: Any, console: str, cloudlet: CloudletProcess, root_password: str, lab: Lab) -> None:
    signed_in_as_root(browser, console, cloudlet, root_password)
    browser.get_log("browser")
    browser.get(f"{console}/vpc")
    browser.find_element(By.LINK_TEXT, lab.vpc_id).click()
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, f"[data-subnet='{lab.subnet_id}']"), timeout=10,
             what="the topology's first drawing")
    assert browser.find_element(By.CSS_SELECTOR, "#topology canvas")  # Cytoscape drew it
    assert lab.web_group in browser.find_element(By.ID, "security-groups").text
    browser.execute_script("window.sameDocument = true;")  # gone if the page were reloaded
    ec2 = cloudlet.client("ec2")
    added = ec2.create_subnet(VpcId=lab.vpc_id, CidrBlock="10.77.2.0/24",
                              AvailabilityZone="home-1b")["Subnet"]["SubnetId"]
    try:
        wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, f"[data-subnet='{added}']"), timeout=10,
                 what="the new subnet on the polled topology")
        assert browser.execute_script("return window.sameDocument === true;")
        assert "home-1b" in browser.find_element(By.ID, "topology-text").text
        screenshot(browser, "vpc-topology")
        assert not severe_logs(browser)  # no Content-Security-Policy violation, no missing script
    finally:
        ec2.delete_subnet(SubnetId=added)


def rules_of(cloudlet: CloudletProcess, group_id: str) -> list[dict[str, Any]]:
    return cloudlet.client("ec2").describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]["IpPermissions"]


def test_a_rule_added_in_the_editor_is_in_describe_security_groups(
        browser: Any, console: str, cloudlet: CloudletProcess, root_password: str, lab: Lab) -> None:
    signed_in_as_root(browser, console, cloudlet, root_password)
    for _ in range(2):  # the second time, the API refuses the duplicate and the page says why
        browser.get(f"{console}/vpc/security-groups/{lab.web_group}")
        Select(browser.find_element(By.ID, "protocol")).select_by_value("tcp")
        browser.find_element(By.ID, "from_port").send_keys("8080")
        browser.find_element(By.ID, "peer").send_keys("10.9.0.0/16")
        browser.find_element(By.ID, "description").send_keys("from the console")
        browser.find_element(By.ID, "add-rule-submit").click()
        wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".notice, #api-error"), timeout=10,
                 what="the editor's answer")
    assert "InvalidPermission.Duplicate" in browser.find_element(By.ID, "api-error").text
    added = [p for p in rules_of(cloudlet, lab.web_group) if p.get("FromPort") == 8080]
    assert added and added[0]["IpRanges"] == [{"CidrIp": "10.9.0.0/16", "Description": "from the console"}]
    row = next(r for r in browser.find_elements(By.CSS_SELECTOR, "#ingress-rules tbody tr") if "8080" in r.text)
    row.find_element(By.CSS_SELECTOR, "button").click()
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".notice"), timeout=10, what="the removal")
    assert not [p for p in rules_of(cloudlet, lab.web_group) if p.get("FromPort") == 8080]


def test_a_read_only_user_sees_the_editors_buttons_disabled(
        browser: Any, console: str, cloudlet: CloudletProcess, lab: Lab, unique: str) -> None:
    iam = cloudlet.client("iam")
    cleanup = Cleanup(iam)
    user = f"{unique}-netreader"
    iam.create_user(UserName=user)
    cleanup.users.append(user)
    try:
        iam.attach_user_policy(UserName=user, PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
        sign_in(browser, console, cloudlet.account_id, user, give_login_profile(iam, user))
        wait_for(lambda: browser.find_elements(By.ID, "signed-in-as"), timeout=10, what="the overview")
        browser.get(f"{console}/vpc/security-groups/{lab.web_group}")
        submit = browser.find_element(By.ID, "add-rule-submit")
        assert not submit.is_enabled() and "AuthorizeSecurityGroupIngress" in submit.get_attribute("title")
        removes = browser.find_elements(By.CSS_SELECTOR, "#ingress-rules button, #egress-rules button")
        assert removes and not any(button.is_enabled() for button in removes)
        acl_id = cloudlet.client("ec2").describe_network_acls(Filters=[
            {"Name": "vpc-id", "Values": [lab.vpc_id]}])["NetworkAcls"][0]["NetworkAclId"]
        browser.get(f"{console}/vpc/network-acls/{acl_id}")
        assert "allow" in browser.find_element(By.ID, "ingress-entries").text  # the rules are readable
        assert not browser.find_element(By.ID, "entry-create").is_enabled()
        assert not browser.find_element(By.ID, "entry-replace").is_enabled()
        browser.get(f"{console}/vpc/{lab.vpc_id}/reachability")
        assert not browser.find_element(By.ID, "analyze").is_enabled()
    finally:
        with contextlib.suppress(ClientError):
            iam.delete_login_profile(UserName=user)
        cleanup.run()


def analyse(browser: Any, console: str, lab: Lab, port: str) -> str:
    """Run an analysis from the app interface to the web one from the page; its verdict's text."""
    browser.get(f"{console}/vpc/{lab.vpc_id}/reachability")
    Select(browser.find_element(By.ID, "source")).select_by_value(lab.app_eni)
    Select(browser.find_element(By.ID, "destination")).select_by_value(lab.web_eni)
    browser.find_element(By.ID, "port").send_keys(port)
    browser.find_element(By.ID, "analyze").click()
    return str(wait_for(lambda: browser.find_elements(By.ID, "verdict"), timeout=10, what="the verdict")[0].text)


def test_reachability_shows_the_verdict_of_an_allowed_and_a_blocked_path(
        browser: Any, console: str, cloudlet: CloudletProcess, root_password: str, lab: Lab) -> None:
    signed_in_as_root(browser, console, cloudlet, root_password)
    browser.get_log("browser")
    assert analyse(browser, console, lab, "443") == "Reachable: a path was found."
    hops = browser.find_element(By.ID, "hops").text
    assert lab.app_eni in hops and lab.web_group in hops and "ingress rule tcp 443" in hops
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#topology[data-digest]"), timeout=10,
             what="the highlighted topology")
    screenshot(browser, "reachability")
    assert analyse(browser, console, lab, "22") == "Not reachable."
    explanations = browser.find_element(By.ID, "explanations").text
    assert "ENI_SG_RULES_MISMATCH" in explanations
    assert f"No rule of the security groups of {lab.web_eni} allows this traffic (ingress)." in explanations
    assert not severe_logs(browser)
