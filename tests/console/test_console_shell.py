"""The browser shell's refusals in a real browser against a real ``cloudlet up`` (no VM needed: each refusal
comes before any guest is reached): a user without ``ec2-instance-connect:SendSSHPublicKey`` sees AWS's
AccessDenied in the terminal, with no CSP violation; the websocket opens for no one without the session's
cookie and an unspent ticket of that session."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.console.conftest import PASSWORD, fresh, give_login_profile, screenshot, session_of, sign_in
from tests.e2e.helpers import Cleanup
from tests.support import CloudletProcess, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

By: Any = pytest.importorskip("selenium.webdriver.common.by").By
#: Any well-formed id: SendSSHPublicKey authorizes before it looks the instance up, as AWS does.
INSTANCE = "i-0123456789abcdef0"


@pytest.fixture
def describer(cloudlet: CloudletProcess, unique: str) -> Iterator[str]:
    """An IAM user with a console password who may describe EC2 but not use EC2 Instance Connect."""
    iam = cloudlet.client("iam")
    cleanup = Cleanup(iam)
    user = f"{unique}-describer"
    try:
        iam.create_user(UserName=user)
        cleanup.users.append(user)
        iam.put_user_policy(UserName=user, PolicyName="describe", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}]}))
        give_login_profile(iam, user)
        yield user
    finally:
        cleanup.run()


def terminal_text(browser: Any) -> str:
    return browser.find_element(By.CSS_SELECTOR, "#terminal .xterm-rows").text


def test_a_user_without_send_ssh_public_key_sees_access_denied_in_the_terminal(
        browser: Any, console: str, cloudlet: CloudletProcess, describer: str) -> None:
    sign_in(browser, console, cloudlet.account_id, describer, PASSWORD)
    wait_for(lambda: browser.find_elements(By.ID, "signed-in-as"), timeout=10, what="the overview")
    browser.get_log("browser")  # what earlier pages logged
    browser.get(f"{console}/ec2/instances/{INSTANCE}/shell")
    wait_for(lambda: fresh(lambda: browser.find_element(By.ID, "terminal").get_attribute("data-closed")), timeout=15,
             what="the shell to give up")
    text = terminal_text(browser)
    assert "AccessDenied" in text and "ec2-instance-connect:SendSSHPublicKey" in text, text
    assert browser.find_element(By.ID, "os-user").get_attribute("value") == "ec2-user"  # no image to read
    problems = [entry["message"] for entry in browser.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")]
    assert problems == []
    screenshot(browser, "console-shell-refused")


def test_the_websocket_needs_the_sessions_cookie_and_an_unspent_ticket(
        browser: Any, console: str, cloudlet: CloudletProcess, describer: str) -> None:
    sign_in(browser, console, cloudlet.account_id, describer, PASSWORD)
    wait_for(lambda: browser.find_elements(By.ID, "signed-in-as"), timeout=10, what="the overview")
    http = session_of(browser)
    page = http.get(f"{console}/ec2/instances/{INSTANCE}/shell?user=admin").text
    url, ticket = (re.search(rf'{name}="([^"]+)"', page).group(1) for name in ("data-url", "data-ticket"))
    cookie = f"cloudlet_console={http.cookies['cloudlet_console']}"

    def refusal(headers: dict[str, str], query: str) -> str:
        with pytest.raises(InvalidStatus) as refused:
            connect(f"{url}?{query}", additional_headers=headers, open_timeout=5).close()
        assert refused.value.response.status_code == 403
        return refused.value.response.body.decode()

    assert "session has ended" in refusal({}, f"ticket={ticket}")
    assert "not valid" in refusal({"Cookie": cookie}, "ticket=forged")
    with connect(f"{url}?ticket={ticket}", additional_headers={"Cookie": cookie}, open_timeout=5) as shell:
        assert json.loads(shell.recv(timeout=10)) == {
            "status": "Pushing a one-time key for admin (SendSSHPublicKey)..."}
        assert json.loads(shell.recv(timeout=10))["error"].startswith("AccessDenied")
    assert "already used" in refusal({"Cookie": cookie}, f"ticket={ticket}")
