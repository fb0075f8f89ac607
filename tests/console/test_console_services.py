"""The console's CloudWatch graphs and service pages in a real browser against a real ``cloudlet up``.

No VM boots: the instance stays pending on test_console_browser.py's fake host, and the test posts the compute
agent's metrics report for it through the agent RPC (``POST /hosts/<id>/metrics``, as the agent would), which
is how ``AWS/EC2`` datapoints reach CloudWatch (a client's PutMetricData may not write ``AWS/`` namespaces).
Running a Lambda function needs the agent (bubblewrap sandboxes), which the other console tests' cloud has
not: the invoke test starts a cloud of its own with the agent, as tests/e2e's ``functions_cloud`` does (a few
seconds), and is skipped where functions cannot run (not root, no bwrap).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.console import test_console_browser as instance_pages
from tests.console.conftest import fresh, give_login_profile, screenshot, sign_in
from tests.e2e.helpers import Cleanup, agent_rpc
from tests.e2e.lambda_helpers import LAMBDA_TRUST, MISSING, needs_functions, zip_of
from tests.support import CloudletProcess, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

By: Any = pytest.importorskip("selenium.webdriver.common.by").By
Select: Any = pytest.importorskip("selenium.webdriver.support.select").Select

# The instance pages' fixtures (a fake host, an image, a pending instance on them), shared by name.
fake_host, image_id, instance = instance_pages.fake_host, instance_pages.image_id, instance_pages.instance
signed_in_as_root = instance_pages.signed_in_as_root


def report_metrics(cloudlet: CloudletProcess, host_id: str, instance_id: str, minutes: int) -> None:
    """The agent's reports for the last ``minutes`` minutes, one a minute: CPU 10 %, 20 %, ... and traffic."""
    now = dt.datetime.now(dt.UTC)
    for ago in range(minutes, 0, -1):
        step = minutes - ago + 1
        agent_rpc(cloudlet, "POST", f"/hosts/{host_id}/metrics", {
            "time": (now - dt.timedelta(minutes=ago - 1)).isoformat(),
            "instances": [{"instance_id": instance_id, "seconds": 60.0, "metrics": {
                "CPUUtilization": 10.0 * step, "NetworkIn": 1000.0 * step, "NetworkOut": 500.0 * step}}]})


def test_the_instance_page_graphs_its_cpu_and_network_and_the_alarms_are_listed(
        browser: Any, console: str, cloudlet: CloudletProcess, root_password: str, fake_host: str,
        instance: str, unique: str) -> None:
    report_metrics(cloudlet, fake_host, instance, 4)
    cw = cloudlet.client("cloudwatch")
    alarm = f"{unique}-cpu-high"
    cw.put_metric_alarm(AlarmName=alarm, Namespace="AWS/EC2", MetricName="CPUUtilization",
                        Dimensions=[{"Name": "InstanceId", "Value": instance}], Statistic="Average",
                        Period=60,
                        EvaluationPeriods=1, Threshold=80.0, ComparisonOperator="GreaterThanThreshold")
    try:
        signed_in_as_root(browser, console, cloudlet, root_password)
        browser.get_log("browser")  # what earlier pages logged
        browser.get(f"{console}/ec2/instances")
        browser.find_element(By.ID, f"details-{instance}").click()
        wait_for(lambda: fresh(lambda: browser.find_element(By.ID, "charts").get_attribute("data-points")), timeout=10,
                 what="the graphs' data")
        assert int(browser.find_element(By.ID, "charts").get_attribute("data-points")) == 4
        assert "latest CPU 40.0 %" in browser.find_element(By.ID, "chart-status").text
        for chart in ("cpu", "network"):  # uPlot drew a canvas with its series' legend
            assert browser.find_elements(By.CSS_SELECTOR, f"#chart-{chart} canvas")
        legend = browser.find_element(By.CSS_SELECTOR, "#chart-network .u-legend").text
        assert "Network in (bytes/min)" in legend and "Network out (bytes/min)" in legend
        browser.execute_script("document.getElementById('monitoring-heading').scrollIntoView()")
        screenshot(browser, "console-metrics")
        problems = [entry["message"] for entry in browser.get_log("browser")
                    if entry["level"] in ("SEVERE", "WARNING")]
        assert not problems  # no Content-Security-Policy violation, no missing script
        Select(browser.find_element(By.ID, "hours")).select_by_value("3")
        browser.find_element(By.CSS_SELECTOR, "form.inline button").click()
        wait_for(lambda: browser.current_url.endswith("?hours=3"), timeout=10, what="the 3 h range")
        browser.get(f"{console}/cloudwatch/alarms")
        row = browser.find_element(By.XPATH, f"//tr[th='{alarm}']").text
        assert "AWS/EC2 · CPUUtilization" in row and "> 80.0" in row and f"InstanceId={instance}" in row
    finally:
        cw.delete_alarms(AlarmNames=[alarm])


def test_an_sqs_message_sent_from_the_page_is_counted(browser: Any, console: str, cloudlet: CloudletProcess,
                                                      root_password: str, unique: str) -> None:
    sqs = cloudlet.client("sqs")
    url = sqs.create_queue(QueueName=f"{unique}-console")["QueueUrl"]
    try:
        signed_in_as_root(browser, console, cloudlet, root_password)
        browser.get(f"{console}/services")
        browser.find_element(By.LINK_TEXT, "SQS queues").click()
        name = f"{unique}-console"
        body = browser.find_element(By.ID, f"body-{name}")
        body.clear()
        body.send_keys("hello from the console")
        browser.find_element(By.ID, f"send-{name}").click()
        wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".notice"), timeout=10, what="the notice")
        assert browser.find_element(By.CSS_SELECTOR, ".notice").text == f"Sent a message to {name}."
        count = browser.find_element(By.CSS_SELECTOR, f"#queue-{name} [data-count=available]").text
        assert count == "1"
        received = sqs.receive_message(QueueUrl=url)["Messages"]
        assert [message["Body"] for message in received] == ["hello from the console"]
    finally:
        sqs.delete_queue(QueueUrl=url)


def test_a_read_only_user_sees_the_service_actions_disabled(browser: Any, console: str,
                                                            cloudlet: CloudletProcess, unique: str) -> None:
    iam = cloudlet.client("iam")
    cleanup = Cleanup(iam)
    sqs, sns, lam = cloudlet.client("sqs"), cloudlet.client("sns"), cloudlet.client("lambda")
    queue = sqs.create_queue(QueueName=f"{unique}-ro")["QueueUrl"]
    topic = sns.create_topic(Name=f"{unique}-ro")["TopicArn"]
    role = f"{unique}-fn"
    user = f"{unique}-reader"
    try:
        role_arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=LAMBDA_TRUST)["Role"]["Arn"]
        cleanup.roles.append(role)
        function = f"{unique}-fn"
        lam.create_function(FunctionName=function, Runtime="python3.11", Role=role_arn, Handler="app.handler",
                            Code={"ZipFile": zip_of({"app.py": ECHO})})
        iam.create_user(UserName=user)
        cleanup.users.append(user)
        iam.attach_user_policy(UserName=user, PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
        sign_in(browser, console, cloudlet.account_id, user, give_login_profile(iam, user))
        wait_for(lambda: browser.find_elements(By.ID, "signed-in-as"), timeout=10, what="the overview")
        browser.get(f"{console}/sqs/queues")
        for action in ("send", "purge"):
            assert not browser.find_element(By.ID, f"{action}-{unique}-ro").is_enabled()
        assert "sqs:SendMessage" in browser.find_element(By.ID, f"send-{unique}-ro").get_attribute("title")
        screenshot(browser, "console-services-read-only")
        browser.get(f"{console}/sns/topics")
        assert not browser.find_element(By.ID, f"publish-{unique}-ro").is_enabled()
        browser.get(f"{console}/lambda/functions")
        row = browser.find_element(By.ID, f"function-{function}").text
        assert "python3.11" in row and "app.handler" in row  # the list, as root would see it
        assert browser.find_element(By.ID, f"invoke-{function}").get_attribute("aria-disabled") == "true"
        browser.get(f"{console}/ec2/volumes")
        assert not browser.find_element(By.ID, "create-volume").is_enabled()
    finally:
        with contextlib.suppress(ClientError):  # the test may have failed before it was made
            lam.delete_function(FunctionName=f"{unique}-fn")
        cleanup.run()
        sqs.delete_queue(QueueUrl=queue)
        sns.delete_topic(TopicArn=topic)



@pytest.fixture(scope="module")
def functions_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudletProcess]:
    """A ``cloudlet up`` with its agent, which runs Lambda functions; yielded once the runner registered."""
    if MISSING is not None:
        pytest.skip(MISSING)
    process = CloudletProcess(tmp_path_factory.mktemp("console-functions") / "data", agent=True).start()
    try:
        wait_for(lambda: any("registered" in line and "lambda-functions" in line for line in process.output),
                 timeout=60, what="the agent's function runner to register")
        yield process
    finally:
        process.stop()


ECHO = """
def handler(event, context):
    print("greeting", event["name"])
    return {"hello": event["name"]}
"""


@needs_functions
def test_a_lambda_invoke_from_the_page_shows_its_result_and_log_tail(
        browser: Any, functions_cloud: CloudletProcess, unique: str) -> None:
    iam, lam = functions_cloud.client("iam"), functions_cloud.client("lambda")
    role = iam.create_role(RoleName=f"{unique}-fn", AssumeRolePolicyDocument=LAMBDA_TRUST)["Role"]["Arn"]
    function = f"{unique}-echo"
    lam.create_function(FunctionName=function, Runtime="python3.11", Role=role, Handler="app.handler",
                        Code={"ZipFile": zip_of({"app.py": ECHO})})
    lam.get_waiter("function_active_v2").wait(FunctionName=function,
                                              WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    user = f"{unique}-dev"
    iam.create_user(UserName=user)
    allowed = {"Effect": "Allow", "Resource": "*",
               "Action": ["lambda:ListFunctions", "lambda:InvokeFunction"]}
    iam.put_user_policy(UserName=user, PolicyName="lambda", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [allowed]}))
    console = f"{functions_cloud.endpoint}/console"
    browser.get(f"{console}/signin")
    browser.delete_all_cookies()
    sign_in(browser, console, functions_cloud.account_id, user, give_login_profile(iam, user))
    wait_for(lambda: browser.find_elements(By.ID, "signed-in-as"), timeout=10, what="the overview")
    browser.get(f"{console}/lambda/functions")
    browser.find_element(By.ID, f"invoke-{function}").click()
    payload = browser.find_element(By.ID, "payload")
    payload.clear()
    payload.send_keys('{"name": "console"}')
    browser.find_element(By.ID, "invoke-submit").click()
    wait_for(lambda: browser.find_elements(By.ID, "invoke-result"), timeout=30, what="the invoke's result")
    assert json.loads(browser.find_element(By.ID, "invoke-result").text) == {"hello": "console"}
    assert "Status 200" in browser.find_element(By.ID, "invoke-status").text
    assert "greeting console" in browser.find_element(By.ID, "invoke-log").text
    screenshot(browser, "console-lambda-invoke")
