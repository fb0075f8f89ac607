"""The console's CloudWatch graphs and service pages in-process: the chart JSON's shape (pure), Invoke's
answer as the page shows it (pure), and each page rendered through the Flask test client as a signed-in root
user, against a cloud with no host. The browser runs them in tests/console/test_console_services.py."""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controller import service_calls
from controller.auth.store import root_principal
from controller.cloud import Cloud
from controller.cloudwatch import ingest
from controller.config import Config
from controller.console import metrics_series, state
from controller.console.pages_functions import invoke_result, payload_problem
from controller.console.sessions import COOKIE
from controller.wsgi import create_app
from tests.unit.test_console import signed_in

T0 = dt.datetime(2026, 12, 6, 10, 0, tzinfo=dt.UTC)


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def test_the_range_is_one_of_those_offered() -> None:
    assert [metrics_series.hours_of(text) for text in ("3", "12", "1", None, "", "24", "-1", "x")] == [
        3, 12, 1, 1, 1, 1, 1, 1]


def test_the_queries_ask_for_the_instance_per_minute_up_to_the_next_minute() -> None:
    params = metrics_series.queries("i-0123456789abcdef0", 3, T0 + dt.timedelta(seconds=42.5))
    assert params["EndTime"] == at(1) and params["StartTime"] == at(1) - dt.timedelta(hours=3)
    stats = {q["Id"]: q["MetricStat"] for q in params["MetricDataQueries"]}
    assert {i: (s["Metric"]["MetricName"], s["Stat"], s["Period"]) for i, s in stats.items()} == {
        "cpu": ("CPUUtilization", "Average", 60), "netin": ("NetworkIn", "Sum", 60),
        "netout": ("NetworkOut", "Sum", 60)}
    dimensions = [{"Name": "InstanceId", "Value": "i-0123456789abcdef0"}]
    assert all(s["Metric"]["Namespace"] == "AWS/EC2" and s["Metric"]["Dimensions"] == dimensions
               for s in stats.values())


def test_the_chart_json_aligns_each_charts_series_on_the_union_of_their_timestamps() -> None:
    results = [  # as GetMetricData answers: per query, its own timestamps (ascending as asked)
        {"Id": "netout", "Timestamps": [at(1)], "Values": [300]},
        {"Id": "cpu", "Timestamps": [at(0), at(2)], "Values": [12.5, 40]},
        {"Id": "netin", "Timestamps": [at(0), at(1)], "Values": [1000, 2000.0]},
    ]
    chart = metrics_series.chart_json(results, 3, {"StartTime": at(-60), "EndTime": at(60)})
    seconds = [int(at(m).timestamp()) for m in range(3)]
    assert chart == {"hours": 3, "period": 60, "start": int(at(-60).timestamp()),
                     "end": int(at(60).timestamp()), "charts": {
        "cpu": {"x": [seconds[0], seconds[2]], "series": [
            {"id": "cpu", "label": "CPU utilization (%)", "y": [12.5, 40.0]}]},
        "network": {"x": seconds[:2], "series": [
            {"id": "netin", "label": "Network in (bytes/min)", "y": [1000.0, 2000.0]},
            {"id": "netout", "label": "Network out (bytes/min)", "y": [None, 300.0]}]},
    }}


def test_no_datapoints_is_empty_charts_not_an_error() -> None:
    charts = metrics_series.chart_json([], 1, metrics_series.queries("i-0123456789abcdef0", 1, T0))["charts"]
    assert charts["cpu"] == {"x": [], "series": [{"id": "cpu", "label": "CPU utilization (%)", "y": []}]}
    assert [line["y"] for line in charts["network"]["series"]] == [[], []]


def test_invoke_results_show_json_pretty_and_the_log_decoded() -> None:
    shown = invoke_result({"StatusCode": 200, "Payload": b'{"ok": true}', "ExecutedVersion": "$LATEST",
                           "LogResult": base64.b64encode(b"START\nhello\nEND\n").decode()})
    assert shown == {"status": 200, "function_error": "", "version": "$LATEST",
                     "payload": '{\n  "ok": true\n}', "log": "START\nhello\nEND\n"}
    failed = invoke_result({"StatusCode": 200, "FunctionError": "Unhandled", "Payload": "not json"})
    assert (failed["function_error"], failed["payload"], failed["log"]) == ("Unhandled", "not json", "")


def test_a_payload_must_be_json() -> None:
    assert payload_problem('{"a": [1, 2]}') == ""
    assert payload_problem("{a}").startswith("The payload is not JSON: ")


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    made = Cloud(Config(data_dir=tmp_path / "data"))
    made.credentials.create_account("cloudlet", "root@cloudlet.local", is_management=True)
    yield made
    made.close()


@pytest.fixture
def client(cloud: Cloud) -> Any:
    """A Flask test client holding a root session's cookie."""
    token = state.create(cloud.db, cloud.secrets, signed_in(cloud))
    tested = create_app(cloud).test_client()
    tested.set_cookie(COOKIE, token, path="/console")
    return tested


def csrf_of(page: bytes) -> str:
    found = re.search(rb'name="_csrf" value="([^"]+)"', page)
    assert found
    return found[1].decode()


def test_the_metrics_endpoint_reads_the_instances_datapoints(cloud: Cloud, client: Any) -> None:
    account = cloud.credentials.management_account()
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    ingest.put(cloud, account, cloud.config.region, "AWS/EC2", [
        ingest.Datum("CPUUtilization", (("InstanceId", "i-0123456789abcdef0"),),
                     now - dt.timedelta(minutes=m), value=10.0 * m, unit="Percent") for m in range(1, 4)])
    answer = client.get("/console/ec2/instances/i-0123456789abcdef0/metrics.json?hours=3")
    assert answer.status_code == 200
    cpu = answer.get_json()["charts"]["cpu"]
    assert cpu["series"][0]["y"] == [30.0, 20.0, 10.0] and len(cpu["x"]) == 3
    assert client.get("/console/ec2/instances/not-an-id/metrics.json").status_code == 404


def test_the_service_pages_render_and_an_sqs_send_counts(cloud: Cloud, client: Any) -> None:
    for path, heading in (("/console/services", b"<h1>Services</h1>"),
                          ("/console/cloudwatch/alarms", b"No alarms."),
                          ("/console/sns/topics", b"No topics."),
                          ("/console/lambda/functions", b"No functions."),
                          ("/console/ec2/volumes", b"No volumes.")):
        page = client.get(path)
        assert page.status_code == 200 and heading in page.data, path
    root = root_principal(cloud.credentials.management_account())
    url = service_calls.call(cloud, root, "sqs", "CreateQueue", {"QueueName": "console-unit"},
                             invoked_by="test")["QueueUrl"]
    page = client.get("/console/sqs/queues")
    assert b'id="queue-console-unit"' in page.data
    sent = client.post("/console/sqs/queues/send", data={"_csrf": csrf_of(page.data), "queue_url": url})
    assert sent.status_code == 303 and "done=send" in sent.headers["Location"]
    listed = client.get(sent.headers["Location"]).data
    assert b"Sent a message to console-unit." in listed and b'data-count="available">1<' in listed
    missing = client.post("/console/sqs/queues/purge", data={"_csrf": csrf_of(page.data),
                                                             "queue_url": url + "-missing"})
    assert missing.status_code == 400 and b"NonExistentQueue" in missing.data


def test_an_sns_publish_and_an_ebs_volume_through_the_pages(cloud: Cloud, client: Any) -> None:
    root = root_principal(cloud.credentials.management_account())
    service_calls.call(cloud, root, "sns", "CreateTopic", {"Name": "console-unit"}, invoked_by="test")
    page = client.get("/console/sns/topics")
    assert b'id="topic-console-unit"' in page.data
    arn = re.search(rb'name="topic_arn" value="([^"]+)"', page.data)[1].decode()  # type: ignore[index]
    published = client.post("/console/sns/topics/publish", follow_redirects=True,
                            data={"_csrf": csrf_of(page.data), "topic_arn": arn, "message": "hi"})
    assert b"Published a message to console-unit." in published.data
    page = client.get("/console/ec2/volumes")
    volume_form = {"_csrf": csrf_of(page.data), "zone": "home-1a", "size": "1", "volume_type": "gp3",
                   "name": "unit"}
    refused = client.post("/console/ec2/volumes/create", data=volume_form)
    # no host keeps volumes yet: AWS's refusal, under its status
    assert refused.status_code == 500 and b"InsufficientVolumeCapacity" in refused.data
    registered = client.post("/_cloudlet/agent/v1/hosts",
                             headers={"Authorization": f"Bearer {cloud.agent_token}"},
                             json={"host_id": "h-unit0console", "hostname": "unit", "zone": "home-1a",
                                   "vcpus": 4, "memory_mib": 8192, "disk_gib": 50, "hypervisor": "qemu",
                                   "agent_version": "test", "capabilities": ["compute"]})
    assert registered.status_code < 300
    created = client.post("/console/ec2/volumes/create", data=volume_form)
    volume = re.search(r"name=(vol-[0-9a-f]+)", created.headers["Location"])[1]  # type: ignore[index]
    listed = client.get(created.headers["Location"]).data.decode()
    assert f"Creating {volume}." in listed and f'id="volume-{volume}"' in listed
    for action in ("attach", "detach", "delete"):  # creating: nothing to do until the host made it
        why = "The volume is not attached" if action == "detach" else "Only an available volume"
        assert re.search(f'id="{action}-{volume}"[^>]* disabled title="{why}', listed), action


def test_the_instance_page_and_a_bad_invoke_payload(client: Any) -> None:
    missing = client.get("/console/ec2/instances/i-0123456789abcdef0")
    assert missing.status_code == 400 and b"InvalidInstanceID" in missing.data
    form = client.get("/console/lambda/functions/nothing/invoke")
    assert form.status_code == 200
    refused = client.post("/console/lambda/functions/nothing/invoke", data={"_csrf": csrf_of(form.data),
                                                                           "payload": "{not json"})
    assert refused.status_code == 400 and b"The payload is not JSON" in refused.data
    absent = client.post("/console/lambda/functions/nothing/invoke", data={"_csrf": csrf_of(form.data),
                                                                          "payload": "{}"})
    assert absent.status_code == 404 and b"ResourceNotFoundException" in absent.data
