"""One leader for the background workers among the controllers on one PostgreSQL database
(``controller/state/leadership.py``): the election itself on a real cluster, then two ``cloudlet up`` processes
of which only the elected one evaluates CloudWatch alarms, until it is killed and the other takes over."""

from __future__ import annotations

import datetime as dt
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from controller.state.leadership import PostgresLeadership
from tests import postgres_lab
from tests.e2e.test_postgres_state import start_controllers
from tests.support import CloudletProcess

pytestmark = [pytest.mark.postgres,
              pytest.mark.skipif(postgres_lab.server_binaries() is None, reason="PostgreSQL is not installed")]

LEADS = "this controller leads the background workers"


def eventually(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def test_one_campaigner_leads_and_the_other_takes_over_when_it_closes() -> None:
    url = postgres_lab.shared_cluster().create_database("cloudlet_election")
    first, second = PostgresLeadership(url, retry_seconds=0.5), PostgresLeadership(url, retry_seconds=0.5)
    elected: list[str] = []
    first.on_elected(lambda: elected.append("first"))
    second.on_elected(lambda: elected.append("second"))
    first.start()
    try:
        assert eventually(lambda: first.leading, 10)
        second.start()
        time.sleep(2)  # four attempts of the second, every one refused
        assert (first.leading, second.leading, elected) == (True, False, ["first"])
        first.close()
        assert eventually(lambda: second.leading, 5)
        assert not first.leading and elected == ["first", "second"]
    finally:
        first.close()
        second.close()


@pytest.fixture
def controllers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[CloudletProcess, CloudletProcess]]:
    url = postgres_lab.shared_cluster().create_database("cloudlet_leader")
    first, second = start_controllers(tmp_path_factory.mktemp("leadership"), url)
    try:
        yield first, second
    finally:
        for cloud in (first, second):
            if cloud.proc is not None and cloud.proc.poll() is None:
                os.kill(cloud.proc.pid, signal.SIGCONT)  # a test that failed with it frozen: let it stop
        second.stop()
        first.stop()


def leaders(clouds: tuple[CloudletProcess, ...]) -> list[CloudletProcess]:
    return [cloud for cloud in clouds if any(LEADS in line for line in cloud.output)]


def test_only_the_leader_runs_workers_and_another_takes_over_when_it_dies(
        controllers: tuple[CloudletProcess, CloudletProcess]) -> None:
    assert eventually(lambda: len(leaders(controllers)) >= 1, 15)
    time.sleep(3)  # more than an attempt of the other: still one leader
    [leader] = leaders(controllers)
    [follower] = [cloud for cloud in controllers if cloud is not leader]
    assert leader.proc is not None
    cw = follower.client("cloudwatch")
    namespace, name = f"Test/{uuid.uuid4().hex[:8]}", f"lead-{uuid.uuid4().hex[:8]}"
    # Frozen, the leader keeps its session and the lock, but evaluates nothing: what happens now is the
    # follower's doing alone.
    os.kill(leader.proc.pid, signal.SIGSTOP)
    cw.put_metric_alarm(AlarmName=name, MetricName="Load", Namespace=namespace, Statistic="Maximum", Period=60,
                        EvaluationPeriods=2, DatapointsToAlarm=1, Threshold=10.0,
                        ComparisonOperator="GreaterThanThreshold")
    now = dt.datetime.now(dt.UTC)
    previous_minute = now.replace(second=0, microsecond=0) - dt.timedelta(seconds=30)
    cw.put_metric_data(Namespace=namespace, MetricData=[
        {"MetricName": "Load", "Timestamp": stamp, "Value": 25.0} for stamp in (previous_minute, now)])

    def state() -> str:
        return cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"]

    time.sleep(5)  # a leader evaluates within a second of the datapoint (its commit wakes the evaluator)
    assert state() == "INSUFFICIENT_DATA"
    assert not leaders((follower,))
    started = time.monotonic()
    os.kill(leader.proc.pid, signal.SIGKILL)
    leader.proc.wait(timeout=10)
    assert eventually(lambda: state() == "ALARM", 20), (state(), "".join(follower.output[-30:]))
    took = time.monotonic() - started
    assert leaders((follower,)), "".join(follower.output[-30:])
    print(f"\nleader killed: the other controller took over and evaluated the alarm in {took:.1f} s")
