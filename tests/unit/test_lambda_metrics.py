"""Lambda's CloudWatch metrics: the pure datapoint builders, the counters, and invocations through the real
engine (with the fake function runner of test_lambda_invoke_engine) read back with GetMetricStatistics."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from controller.awslambda import metrics
from controller.awslambda.errors import TooManyRequestsException
from controller.awslambda.invoke import engine
from controller.awslambda.invoke.invoker import invoker_of
from controller.awslambda.lookup import Target, resolve_target
from controller.awslambda.metrics import FunctionCounters, Tally
from controller.cloud import Cloud
from controller.cloudwatch.ingest import Datum, StatisticSet
from controller.config import Config
from tests.unit.test_lambda_invoke_engine import FakeRunner, LambdaCloud, ok

AT = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
ACCOUNT = "111111111111"
ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:echo"


def target(qualifier: str | None = None, region: str = "us-east-1") -> Target:
    arn = ARN.replace("us-east-1", region)
    return Target(account_id=ACCOUNT, function_name="echo", function_arn=arn,
                  invoked_arn=f"{arn}:{qualifier}" if qualifier else arn, alias=None, routes=(("$LATEST", 1.0),),
                  reserved_concurrency=None, state="Active")


def result(status: str = "ok", duration_ms: float = 10.0) -> Any:
    return SimpleNamespace(status=status, duration_ms=duration_ms)


def by_name(datums: list[Datum]) -> dict[str, Datum]:
    return {datum.metric_name: datum for datum in datums}


def test_a_qualified_invocation_counts_for_the_function_and_its_resource() -> None:
    assert metrics.keys_of(target()) == ((ACCOUNT, "us-east-1", "echo", None),)
    assert metrics.keys_of(target("live")) == ((ACCOUNT, "us-east-1", "echo", None),
                                               (ACCOUNT, "us-east-1", "echo", "echo:live"))


def test_outcomes_of_runner_statuses() -> None:
    assert metrics.outcome_of("ok") == "ok"
    assert metrics.outcome_of("throttled") == "throttle"
    for status in ("function_error", "timeout", "crashed", "init_error"):
        assert metrics.outcome_of(status) == "error"


def test_counters_tally_invocations_errors_throttles_durations_and_peak_concurrency() -> None:
    counters = FunctionCounters()
    keys = metrics.keys_of(target("live"))
    counters.ended(keys, "ok", 12.5, in_flight=3)
    counters.ended(keys, "timeout", 3000.0, in_flight=1)
    counters.ended(keys, "throttled", 0.0, in_flight=1)
    counters.throttled(keys)
    taken = counters.take()
    function_wide, resource = taken[keys[0]], taken[keys[1]]
    assert (function_wide.invocations, function_wide.errors, function_wide.throttles) == (2, 1, 2)
    assert function_wide.durations == [2, 3012.5, 12.5, 3000.0]
    assert function_wide.concurrency == 3
    assert resource.concurrency == 0          # concurrency is counted per function only
    assert counters.take() == {}


def test_counting_counts_a_refused_slot_as_a_throttle_and_lets_other_errors_pass_uncounted() -> None:
    counters = FunctionCounters()
    with pytest.raises(TooManyRequestsException), counters.counting(target()):
        raise TooManyRequestsException("Rate Exceeded.")
    with pytest.raises(RuntimeError), counters.counting(target()):
        raise RuntimeError("no host")
    with counters.counting(target()) as ended:
        ended(result("ok", 4.0), 1)
    tally = counters.take()[(ACCOUNT, "us-east-1", "echo", None)]
    assert (tally.invocations, tally.throttles, tally.errors) == (1, 1, 0)


def test_series_datums_name_their_dimensions_as_lambda_does() -> None:
    tally = Tally(invocations=2, errors=1, concurrency=2)
    tally.add_duration(5.0)
    tally.add_duration(7.0)
    found = by_name(metrics.series_datums((ACCOUNT, "us-east-1", "echo", None), tally, AT))
    dims = (("FunctionName", "echo"),)
    assert found["Invocations"] == Datum("Invocations", dims, AT, 2.0, unit="Count")
    assert (found["Errors"].value, found["Throttles"].value) == (1.0, 0.0)
    assert found["Duration"].statistics == StatisticSet(2, 12.0, 5.0, 7.0)
    assert found["Duration"].unit == "Milliseconds"
    assert found["ConcurrentExecutions"].value == 2.0
    qualified = by_name(metrics.series_datums((ACCOUNT, "us-east-1", "echo", "echo:live"), Tally(throttles=1), AT))
    assert qualified["Throttles"].dimensions == (("FunctionName", "echo"), ("Resource", "echo:live"))
    assert "Duration" not in qualified and "ConcurrentExecutions" not in qualified


@pytest.fixture
def lam(tmp_path: Path) -> Iterator[LambdaCloud]:
    cloud = Cloud(Config(data_dir=tmp_path / "data"))
    account = cloud.credentials.create_account("owner", "owner@example.com", is_management=True)
    harness = LambdaCloud(cloud, account)
    yield harness
    harness.close()


@pytest.fixture
def runner(lam: LambdaCloud) -> Iterator[FakeRunner]:
    made = FakeRunner(lam.cloud.agent_token)
    lam.register_runner("h-runner", made.url)
    yield made
    made.close()


def statistic(lam: LambdaCloud, name: str, dimensions: dict[str, str], which: str = "Sum") -> float | None:
    now = dt.datetime.now(dt.UTC)
    params = {"Namespace": "AWS/Lambda", "MetricName": name,
              "Dimensions": [{"Name": key, "Value": value} for key, value in dimensions.items()],
              "StartTime": now - dt.timedelta(minutes=10), "EndTime": now + dt.timedelta(minutes=1), "Period": 600,
              "Statistics": [which]}
    points = lam.cloud.services["cloudwatch"].operations["GetMetricStatistics"].handler(
        lam.context("GetMetricStatistics"), params)["Datapoints"]
    return points[0][which] if points else None


def test_invocations_through_the_engine_read_back_through_get_metric_statistics(
        lam: LambdaCloud, runner: FakeRunner) -> None:
    lam.function("echo")
    lam.call("PublishVersion", {"FunctionName": "echo"})
    engine.run(lam.cloud, resolve_target(lam.cloud, lam.account, "echo", None), b"{}")
    engine.run(lam.cloud, resolve_target(lam.cloud, lam.account, "echo", "1"), b"{}")
    runner.answer = lambda invocation: {**ok(invocation), "status": "function_error", "duration_ms": 8.5,
                                        "function_error": "Unhandled"}
    engine.run(lam.cloud, resolve_target(lam.cloud, lam.account, "echo", None), b"{}")
    lam.call("PutFunctionConcurrency", {"FunctionName": "echo", "ReservedConcurrentExecutions": 0})
    with pytest.raises(TooManyRequestsException):
        engine.run(lam.cloud, resolve_target(lam.cloud, lam.account, "echo", None), b"{}")
    metrics.publish(lam.cloud, dt.datetime.now(dt.UTC))

    echo = {"FunctionName": "echo"}
    assert statistic(lam, "Invocations", echo) == 3
    assert statistic(lam, "Errors", echo) == 1
    assert statistic(lam, "Throttles", echo) == 1
    assert statistic(lam, "Duration", echo, "Maximum") == 8.5
    assert statistic(lam, "Duration", echo, "Minimum") == 1.5
    assert statistic(lam, "ConcurrentExecutions", echo, "Maximum") == 1
    version = {"FunctionName": "echo", "Resource": "echo:1"}
    assert statistic(lam, "Invocations", version) == 1
    assert statistic(lam, "Errors", version) == 0


def test_closing_the_cloud_publishes_what_was_counted_since_the_last_round(tmp_path: Path) -> None:
    cloud = Cloud(Config(data_dir=tmp_path / "data"))
    invoker_of(cloud).metrics.counters.ended(metrics.keys_of(target(region=cloud.config.region)), "ok", 2.0, 1)
    cloud.close()
    reopened = Cloud(Config(data_dir=tmp_path / "data"))
    try:
        harness = LambdaCloud(reopened, ACCOUNT)
        assert statistic(harness, "Invocations", {"FunctionName": "echo"}) == 1
    finally:
        reopened.close()
