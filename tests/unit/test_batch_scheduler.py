"""The Batch scheduler's placement rules (pure): queue priority, FIFO, fair share, maxvCpus, host room."""

from __future__ import annotations

from controller.batch.scheduler import Environment, Host, Job, Queue, fair_share, schedule

CE = "arn:ce/a"


def job(job_id: str, queue: str = "q1", at: int = 0, vcpus: float = 1, memory: int = 512, share: str | None = None,
        priority: int = 0) -> Job:
    return Job(job_id, queue, at, vcpus, memory, priority, share)


def test_higher_priority_queue_first_then_fifo() -> None:
    queues = [Queue("q1", 1, True, (CE,)), Queue("q2", 10, True, (CE,))]
    jobs = [job("a", "q1", at=1), job("b", "q2", at=5), job("c", "q2", at=2)]
    placed = schedule(jobs, queues, [Environment(CE, True, 2)], [Host("h", 8, 8192)])
    assert [p.job_id for p in placed] == ["c", "b"]


def test_max_vcpus_counts_running_attempts() -> None:
    queues = [Queue("q1", 1, True, (CE,))]
    placed = schedule([job("a", vcpus=2), job("b", vcpus=1)], queues, [Environment(CE, True, 4, running_vcpus=3)],
                      [Host("h", 16, 8192)])
    assert [p.job_id for p in placed] == ["b"]


def test_host_room_and_small_jobs_backfill() -> None:
    queues = [Queue("q1", 1, True, (CE,))]
    jobs = [job("big", at=0, vcpus=4), job("small", at=1, vcpus=1, memory=256)]
    placed = schedule(jobs, queues, [Environment(CE, True, 64)], [Host("h1", 2, 1024), Host("h2", 1, 512)])
    assert [(p.job_id, p.host_id) for p in placed] == [("small", "h1")]


def test_disabled_queue_and_invalid_environment_are_skipped() -> None:
    other = "arn:ce/b"
    queues = [Queue("q1", 1, False, (CE,)), Queue("q2", 1, True, (CE, other))]
    envs = [Environment(CE, False, 64), Environment(other, True, 64)]
    placed = schedule([job("a", "q1"), job("b", "q2")], queues, envs, [Host("h", 4, 4096)])
    assert [(p.job_id, p.environment_arn) for p in placed] == [("b", other)]


def test_spreads_over_hosts() -> None:
    queues = [Queue("q1", 1, True, (CE,))]
    placed = schedule([job("a", at=0), job("b", at=1)], queues, [Environment(CE, True, 64)],
                      [Host("h1", 2, 4096), Host("h2", 2, 4096)])
    assert {p.host_id for p in placed} == {"h1", "h2"}


def test_fair_share_interleaves_by_weight() -> None:
    jobs = [job(f"x{i}", at=i, share="x") for i in range(4)] + [job(f"y{i}", at=10 + i, share="y") for i in range(2)]
    order = [j.job_id for j in fair_share(jobs, {"x": 1.0, "y": 1.0})]
    assert order[:4] == ["x0", "y0", "x1", "y1"]
    weighted = [j.job_id for j in fair_share(jobs, {"x": 0.5, "y": 1.0})]
    assert weighted[:4] == ["x0", "y0", "x1", "x2"]  # x's lower weight gets it twice y's room


def test_fair_share_counts_running_usage_and_priority() -> None:
    jobs = [job("x0", share="x"), job("y0", share="y", at=5), job("y1", share="y", at=6, priority=9)]
    order = [j.job_id for j in fair_share(jobs, {}, {"x": 0.0, "y": 3.0})]
    assert order == ["x0", "y1", "y0"]


def test_limit_caps_a_pass() -> None:
    queues = [Queue("q1", 1, True, (CE,))]
    placed = schedule([job(str(i), at=i) for i in range(5)], queues, [Environment(CE, True, 64)],
                      [Host("h", 64, 65536)], limit=2)
    assert len(placed) == 2
