"""The console's browser tests: headless Chromium (Debian's chromium and chromium-driver) through selenium,
against a real ``cloudlet up`` of their own.

Screenshots go to docs/screenshots/, where the documentation links them.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support import REPO, CloudletProcess

SCREENSHOTS = REPO / "docs" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
#: The password the tests give the root user and IAM users (strong enough for any password policy).
PASSWORD = "Console-Test-Pa55word!"


@pytest.fixture(scope="session")
def cloudlet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudletProcess]:
    """A cloud of the console tests' own (it overrides tests/conftest.py's): their fake host, whose capacity
    any launch may take, and their instances, which the pages list, stay out of the other tests' way."""
    process = CloudletProcess(tmp_path_factory.mktemp("console") / "data").start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the session; each test starts signed out (:func:`page`)."""
    webdriver = pytest.importorskip("selenium.webdriver")
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("chromium and chromium-driver are not installed (apt-get install chromium "
                    "chromium-driver)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,900",
                     "--disable-gpu", "--no-first-run"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # CSP violations are logged there
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def console(cloudlet: CloudletProcess, browser: Any) -> str:
    """The console's URL, with the browser signed out (no cookie of an earlier test)."""
    url = f"{cloudlet.endpoint}/console"
    browser.get(f"{url}/signin")
    browser.delete_all_cookies()
    return url


@pytest.fixture(scope="session")
def root_password(cloudlet: CloudletProcess) -> str:
    """The root user's console password, set as an operator does: ``cloudlet account root-password``."""
    command = [sys.executable, "-m", "controller.cli", "account", "root-password", "--data-dir",
               str(cloudlet.data_dir), "--account", cloudlet.account_id]
    subprocess.run(command, input=PASSWORD + "\n", text=True, check=True, cwd=REPO, timeout=60,
                   capture_output=True)
    return PASSWORD


def give_login_profile(iam: Any, user_name: str) -> str:
    """Give an IAM user a console password (CreateLoginProfile) and return it."""
    iam.create_login_profile(UserName=user_name, Password=PASSWORD, PasswordResetRequired=False)
    return PASSWORD


def sign_in(browser: Any, console: str, account: str, user_name: str, password: str) -> None:
    """Fill the sign-in form and send it, as a user would."""
    from selenium.webdriver.common.by import By

    browser.get(f"{console}/signin")
    browser.find_element(By.ID, "account").send_keys(account)
    user = browser.find_element(By.ID, "user_name")
    user.clear()
    user.send_keys(user_name)
    browser.find_element(By.ID, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()


def session_of(browser: Any) -> requests.Session:
    """An HTTP client holding the browser's console cookies: for requests a page would never send."""
    http = requests.Session()
    for cookie in browser.get_cookies():
        http.cookies.set(cookie["name"], cookie["value"], path=cookie.get("path", "/"))
    return http


def fresh(read: Callable[[], Any]) -> Any:
    """What ``read`` reads of the page, or None while a page load or an htmx swap replaces the element it
    reads: waits poll through that moment instead of failing on a stale or missing element."""
    from selenium.common import exceptions

    try:
        return read()
    except (exceptions.StaleElementReferenceException, exceptions.NoSuchElementException):
        return None


def screenshot(browser: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
