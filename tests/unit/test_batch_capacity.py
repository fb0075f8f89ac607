"""The EC2 compute environment's sizing rules (pure): desiredvCpus, whole instances, scale-down after idling,
which environment a RUNNABLE job asks capacity of, and targets that serve only their own environment."""

from __future__ import annotations

from controller.batch.capacity import (
    DEFAULT_INSTANCE_TYPE,
    Fleet,
    Member,
    Plan,
    choose_instance_type,
    demand_per_environment,
    desired_vcpus,
    plan,
)
from controller.batch.scheduler import Environment, Host, Job, Queue, schedule

CE = "arn:ce/ec2"


def fleet(demand: float, members: tuple[Member, ...] = (), minv: int = 0, maxv: int = 4, size: int = 2,
          asked: int = 0) -> Fleet:
    return Fleet(CE, minv, maxv, size, demand, members, asked)


def test_desired_vcpus_is_demand_clamped_and_rounded_up_to_whole_instances() -> None:
    assert desired_vcpus(0, 4, 0, 2) == 0
    assert desired_vcpus(0, 4, 3, 2) == 4  # 3 vCPUs need two 2-vCPU instances
    assert desired_vcpus(0, 4, 9, 2) == 4  # never past maxvCpus' instances
    assert desired_vcpus(2, 8, 0, 2) == 2  # minvCpus stays up when idle
    assert desired_vcpus(0, 5, 5, 2) == 6  # maxvCpus exceeded by less than one instance, as AWS may


def test_plan_launches_up_to_the_demand_and_nothing_more() -> None:
    assert plan(fleet(4), 0, 5000).launch == 2
    assert plan(fleet(4, (Member("i-1", None),)), 0, 5000).launch == 1
    assert plan(fleet(4, (Member("i-1", None), Member("i-2", 0))), 0, 5000).launch == 0


def test_plan_terminates_only_instances_idle_past_the_delay_down_to_min() -> None:
    members = (Member("i-busy", None), Member("i-old", 1000), Member("i-new", 9000))
    assert plan(fleet(0, members), 10_000, 5000).terminate == ("i-old",)  # i-new idled 1 s, i-busy runs a job
    assert plan(fleet(0, members), 20_000, 5000).terminate == ("i-old", "i-new")
    assert plan(fleet(0, members, minv=4), 20_000, 5000).terminate == ("i-old",)  # minvCpus keeps two
    assert plan(fleet(2, members), 20_000, 5000).terminate == ("i-old", "i-new")  # i-busy holds the demand


def test_asked_desired_vcpus_launch_once_and_then_idle_away() -> None:
    first = plan(fleet(0, asked=2), 0, 5000)
    assert (first.launch, first.desired_vcpus) == (1, 2)  # asked at creation: launched before any job
    launched = (Member("i-1", 0),)
    assert plan(fleet(0, launched, asked=2), 1000, 5000) == Plan(CE, 2, 0, ())  # kept while not idle long
    idled = plan(fleet(0, launched, asked=2), 6000, 5000)
    assert (idled.terminate, idled.desired_vcpus) == (("i-1",), 0)  # then desiredvCpus follows the demand
    assert plan(fleet(0, (), asked=0), 7000, 5000) == Plan(CE, 0, 0, ())  # and nothing is launched again


def test_instance_type_is_the_first_offered_one_or_the_default_for_optimal() -> None:
    catalogue = {"t3.micro": 2, "c5.large": 2}
    assert choose_instance_type(["c5.large", "t3.micro"], catalogue) == "c5.large"
    assert choose_instance_type(["optimal"], catalogue) == DEFAULT_INSTANCE_TYPE


def test_a_job_asks_the_first_scalable_environment_of_its_queue_that_can_hold_it() -> None:
    queues = {"q": ["arn:fargate", CE, "arn:ce/big"]}
    scalable = {CE: 2.0, "arn:ce/big": 16.0}
    assert demand_per_environment([("q", 1), ("q", 2), ("q", 8), ("other", 4)], queues, scalable) == {
        CE: 3.0, "arn:ce/big": 8.0}


def test_ec2_jobs_run_only_on_their_environments_instances_fargate_only_on_hosts() -> None:
    fargate = "arn:ce/fargate"
    queues = [Queue("q-ec2", 1, True, (CE,)), Queue("q-f", 1, True, (fargate,))]
    envs = [Environment(CE, True, 8, on_instances=True), Environment(fargate, True, 8)]
    targets = [Host("host-1", 8, 8192), Host("i-1", 2, 200, frozenset({CE})), Host("i-other", 8, 8192,
                                                                                      frozenset({"arn:ce/x"}))]
    jobs = [Job("e1", "q-ec2", 1, 2, 64), Job("e2", "q-ec2", 2, 2, 64), Job("f1", "q-f", 3, 1, 64)]
    placed = {p.job_id: p.host_id for p in schedule(jobs, queues, envs, targets)}
    assert placed == {"e1": "i-1", "f1": "host-1"}  # e2 waits for a second instance, never on a host
