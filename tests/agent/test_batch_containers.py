"""Batch job attempts as podman containers: the command lines (pure, fast) and the runner against real
podman (root). The test image is an OCI archive written here from the host's busybox, since no registry
is reachable: it goes through ``podman load`` exactly as a job's image archive would."""

from __future__ import annotations

import re
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest

from agent.batch import podman as pm
from agent.batch.podman import AttemptSpec, HostLimits, Podman, Ulimit
from tests.batch_image import busybox_oci_archive
from tests.prerequisites import missing_root, missing_tools, require
from tests.support import wait_for

LIMITS = HostLimits(nofile=20000, nproc=96367)
PODMAN = Podman(runtime="runc")


def spec(**changes: object) -> AttemptSpec:
    base: dict[str, object] = {"job_id": "6f1c-aa", "attempt": 1, "image": "sha256:abc", "command": ("echo", "hi")}
    base.update(changes)
    return AttemptSpec(**base)  # type: ignore[arg-type]


def pairs(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == flag]


# -- pure command lines -------------------------------------------------------------------------------------
def test_run_argv_carries_limits_labels_env_and_never_rm() -> None:
    argv = pm.run_argv(PODMAN, spec(vcpus=0.5, memory_mib=512, timeout_s=60, environment={"A": "1"},
                                    labels={"team": "x", "cloudlet.batch.job": "forged"}), "/l/x.log", LIMITS)
    assert argv[:4] == ["podman", "--runtime=runc", "--cgroup-manager=cgroupfs", "--events-backend=file"]
    assert "--rm" not in argv and "--detach" in argv and "--pull=never" in argv
    assert pairs(argv, "--name") == ["cloudlet-batch-6f1c-aa-1"]
    assert pairs(argv, "--network") == ["none"]
    assert {"--cpus=0.5", "--memory=512m", "--memory-swap=512m", "--pids-limit=4096", "--log-driver=k8s-file",
            "--log-opt=path=/l/x.log"} <= set(argv)
    assert pairs(argv, "--label") == ["cloudlet.batch.attempt=1", "cloudlet.batch.job=6f1c-aa",
                                      "cloudlet.batch.timeout=60", "team=x"]
    assert pairs(argv, "--env") == ["A=1", "AWS_BATCH_JOB_ATTEMPT=1", "AWS_BATCH_JOB_ID=6f1c-aa"]
    assert argv[-3:] == ["sha256:abc", "echo", "hi"]


def test_ulimits_are_explicit_and_clamped_to_the_host() -> None:
    argv = pm.run_argv(PODMAN, spec(ulimits=(Ulimit("core", 0, 0), Ulimit("nofile", 1024, 999999))), "/l", LIMITS)
    assert [a for a in argv if a.startswith("--ulimit")] == [
        "--ulimit=nofile=1024:20000", "--ulimit=nproc=32768:32768", "--ulimit=core=0:0"]
    defaults = pm.effective_ulimits(spec(), HostLimits(nofile=4096, nproc=1000))
    assert defaults == [Ulimit("nofile", 4096, 4096), Ulimit("nproc", 1000, 1000)]


def test_optional_run_flags_and_names() -> None:
    argv = pm.run_argv(PODMAN, spec(job_id="a1:3", workdir="/w", user="1000:1000", read_only_root=True,
                                    init_process=True, shared_memory_mib=64, network="host"), "/l", LIMITS)
    assert pairs(argv, "--name") == ["cloudlet-batch-a1_3-1"] and pairs(argv, "--network") == ["host"]
    assert pairs(argv, "--workdir") == ["/w"] and pairs(argv, "--user") == ["1000:1000"]
    assert {"--read-only", "--init", "--shm-size=64m"} <= set(argv)
    assert "AWS_BATCH_JOB_ID=a1:3" in pairs(argv, "--env")
    assert re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", pm.container_name("x#1 /../y", 2))


def test_secrets_are_named_on_the_command_line_and_valued_in_podmans_environment() -> None:
    secret = "line one\nline two"
    attempt = spec(secrets={"DB_PASSWORD": secret})
    argv = pm.run_argv(PODMAN, attempt, "/l/x/log", LIMITS)
    assert "DB_PASSWORD" in pairs(argv, "--env") and not any(secret in arg for arg in argv)
    assert pm.secret_environment(attempt, {"PATH": "/bin"}) == {"PATH": "/bin", "DB_PASSWORD": secret}


def test_mounts_devices_and_tmpfs() -> None:
    argv = pm.run_argv(PODMAN, spec(mounts=(pm.Mount("data", "/srv/data", "/data", True),
                                            pm.Mount("scratch", None, "/work"), pm.Mount("scratch", None, "/again")),
                                    devices=("/dev/fuse:/dev/fuse:rw",), tmpfs=("/run:size=8m,noexec",)),
                       "/state/name/log", LIMITS)
    assert pairs(argv, "--volume") == ["/srv/data:/data:ro", "/state/name/volumes/scratch:/work:rw",
                                       "/state/name/volumes/scratch:/again:rw"]
    assert {"--device=/dev/fuse:/dev/fuse:rw", "--tmpfs=/run:size=8m,noexec"} <= set(argv)


def test_other_builders() -> None:
    storage = Podman(runtime="crun", root="/r", runroot="/rr")
    assert storage.base()[-2:] == ["--root=/r", "--runroot=/rr"]
    assert pm.load_argv(PODMAN, "/a.tar")[-3:] == ["load", "--input", "/a.tar"]
    assert pm.inspect_argv(PODMAN, "n")[-5:] == ["container", "inspect", "--format", "json", "n"]
    assert pm.stop_argv(PODMAN, "n", 7)[-3:] == ["stop", "--time=7", "n"]
    assert pm.rm_argv(PODMAN, "n")[-5:] == ["rm", "--force", "--time=0", "--ignore", "n"]
    assert "label=cloudlet.batch.job" in pm.ps_argv(PODMAN) and "--all" in pm.ps_argv(PODMAN)
    assert pm.loaded_references("Getting\nLoaded image: localhost/a:1\n") == ["localhost/a:1"]
    assert pm.loaded_references("Loaded image(s): a:1, sha256:ff") == ["a:1", "sha256:ff"]


def test_outcomes_follow_aws_reasons() -> None:
    assert pm.outcome("running", 0, oom_killed=False, stop_reason=None) == ("RUNNING", None, None)
    assert pm.outcome("created", 0, oom_killed=False, stop_reason=None).state == "STARTING"
    assert pm.outcome("exited", 0, oom_killed=False, stop_reason=None) == ("SUCCEEDED", 0, pm.EXITED_REASON)
    assert pm.outcome("exited", 3, oom_killed=False, stop_reason=None) == ("FAILED", 3, pm.EXITED_REASON)
    assert pm.outcome("exited", 137, oom_killed=True, stop_reason=None) == ("FAILED", 137, pm.OOM_REASON)
    assert pm.outcome("exited", 0, oom_killed=False, stop_reason="user") == ("FAILED", 0, "user")
    record = "6,1,2,-;oom-kill:constraint=CONSTRAINT_MEMCG,oom_memcg=/libpod_parent/libpod-abc,task=dd"
    assert pm.is_oom_kill_of(record, "abc") and not pm.is_oom_kill_of(record, "abd")


def test_k8s_file_logs_join_partials_and_keep_unfinished_lines() -> None:
    data = (b"2026-12-06T20:23:16.982403806+00:00 stdout F hello\n"
            b"2026-12-06T20:23:17.000000000+00:00 stderr P par\n"
            b"2026-12-06T20:23:17.100000000+00:00 stderr F tial\n"
            b"2026-12-06T20:23:18.000000000+00:00 stdout P unfinished\n"
            b"2026-12-06T20:23:18.5")
    lines, consumed = pm.parse_k8s_log(data)
    assert [(line.stream, line.message) for line in lines] == [("stdout", "hello"), ("stderr", "partial")]
    assert lines[0].timestamp_ms == 1796588596982
    assert data[consumed:].startswith(b"2026-12-06T20:23:18.000000000+00:00 stdout P")
    assert [line.end for line in lines] == [data.index(b"\n") + 1, consumed]  # just past each line's record
    assert pm.parse_podman_time("2026-12-06T20:23:16Z") == 1796588596.0


# -- real podman ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[object, str, str]]:
    """A runner, the loaded test image's id and this module's job id prefix; every container whose job id
    has the prefix, and the image's tag, are removed afterwards, whatever the tests did."""
    require(missing_tools("podman", "runc") + missing_root(), "the Batch container tests")
    from agent.batch.runner import ContainerRunner

    root = tmp_path_factory.mktemp("batch")
    runner = ContainerRunner(root / "state", stop_grace_s=2)
    prefix = f"t{uuid.uuid4().hex[:8]}"
    tag = f"cloudlet-batch-test:{prefix}"
    archive = busybox_oci_archive(root / "image.tar", tag)
    image_id = runner.ensure_image(archive)
    try:
        yield runner, image_id, prefix
    finally:
        for container in runner.adopt():
            if container.job_id.startswith(prefix):
                runner.remove(container)
        # Only this module's tag, never --force: the same busybox layers have the same image id in every
        # test and bench, and forcing its removal would kill their containers too.
        subprocess.run([*runner.podman.base(), "rmi", tag], capture_output=True)


def finish(runner: object, container: object, timeout: float = 15) -> pm.Outcome:
    return wait_for(lambda: (lambda o: o if o.state in ("SUCCEEDED", "FAILED") else None)(
        runner.poll(container)), timeout, "the attempt to finish", interval=0.1)  # type: ignore[attr-defined]


@pytest.mark.root
def test_image_is_loaded_once_and_a_job_sees_its_environment(lab: tuple) -> None:
    runner, image_id, prefix = lab
    assert runner.ensure_image(runner.state_dir.parent / "image.tar") == image_id  # from the cache
    container = runner.start(AttemptSpec(f"{prefix}-env", 2, image_id, ("sh", "-c", "echo id=$AWS_BATCH_JOB_ID "
                                                                         "attempt=$AWS_BATCH_JOB_ATTEMPT x=$X"),
                                         {"X": "y z"}, vcpus=0.25, memory_mib=64))
    assert container.name == f"cloudlet-batch-{prefix}-env-2"
    assert finish(runner, container) == ("SUCCEEDED", 0, pm.EXITED_REASON)
    lines, offset = runner.logs(container)
    assert [line.message for line in lines] == [f"id={prefix}-env attempt=2 x=y z"]
    assert abs(lines[0].timestamp_ms / 1000 - time.time()) < 60
    assert runner.logs(container, offset) == ([], offset)
    runner.remove(container)
    assert runner.poll(container) == ("FAILED", None, pm.MISSING_REASON) and not container.log_path.exists()


@pytest.mark.root
def test_exit_codes_and_the_oom_kill(lab: tuple) -> None:
    runner, image_id, prefix = lab
    failing = runner.start(AttemptSpec(f"{prefix}-exit", 1, image_id, ("sh", "-c", "echo bye >&2; exit 3")))
    hog = runner.start(AttemptSpec(f"{prefix}-oom", 1, image_id, ("dd", "if=/dev/zero", "of=/dev/null", "bs=64M",
                                                                   "count=1"), memory_mib=16))
    assert finish(runner, failing) == ("FAILED", 3, pm.EXITED_REASON)
    assert [(line.stream, line.message) for line in runner.logs(failing)[0]] == [("stderr", "bye")]
    assert finish(runner, hog) == ("FAILED", 137, pm.OOM_REASON)
    # Each proof of the OOM kill suffices alone: conmon's marker without the kernel log, and the reverse.
    from agent.batch.runner import ContainerRunner

    blind = ContainerRunner(runner.state_dir, kernel_log=lambda: "")
    assert blind.poll(hog) == ("FAILED", 137, pm.OOM_REASON)
    (hog.directory / "oom").unlink(missing_ok=True)
    assert runner.poll(hog) == ("FAILED", 137, pm.OOM_REASON)


@pytest.mark.root
def test_timeout_sends_sigterm_then_fails_the_attempt(lab: tuple) -> None:
    runner, image_id, prefix = lab
    script = "trap 'echo got TERM; exit 0' TERM; echo up; sleep 30 & wait"
    container = runner.start(AttemptSpec(f"{prefix}-timeout", 1, image_id, ("sh", "-c", script), timeout_s=1))
    started = time.monotonic()
    assert finish(runner, container) == ("FAILED", 0, pm.TIMEOUT_REASON)
    assert 1 <= time.monotonic() - started < 6
    assert [line.message for line in runner.logs(container)[0]] == ["up", "got TERM"]
    # PID 1 without a handler ignores SIGTERM: the SIGKILL after the grace ends it.
    stubborn = runner.start(AttemptSpec(f"{prefix}-kill", 1, image_id, ("sleep", "30")))
    runner.stop(stubborn, "Terminated by the user")
    assert finish(runner, stubborn) == ("FAILED", 137, "Terminated by the user")


@pytest.mark.root
def test_a_new_runner_adopts_running_containers_and_their_stop_reasons(lab: tuple) -> None:
    from agent.batch.runner import ContainerRunner

    runner, image_id, prefix = lab
    quick = runner.start(AttemptSpec(f"{prefix}-adopt", 1, image_id, ("sh", "-c", "sleep 1; echo done"), timeout_s=600))
    doomed = runner.start(AttemptSpec(f"{prefix}-doomed", 1, image_id, ("sh", "-c", "trap 'exit 5' TERM; sleep 30 & "
                                                                                   "wait")))
    runner.stop(doomed, "Cancelled")
    successor = ContainerRunner(runner.state_dir, stop_grace_s=2)  # the agent restarted
    adopted = {c.job_id: c for c in successor.adopt() if c.job_id.startswith(prefix)}
    assert adopted[quick.job_id] == quick
    assert finish(successor, adopted[quick.job_id]) == ("SUCCEEDED", 0, pm.EXITED_REASON)
    assert [line.message for line in successor.logs(adopted[quick.job_id])[0]] == ["done"]
    assert finish(successor, adopted[doomed.job_id]) == ("FAILED", 5, "Cancelled")


@pytest.mark.root
def test_secrets_and_volumes_reach_the_container(lab: tuple, tmp_path: object) -> None:
    """A multi-line secret arrives whole; a read-only host directory is readable and not writable; two mount
    points of one scratch volume see the same files, and the scratch volume goes with the attempt."""
    runner, image_id, prefix = lab
    host_dir = tmp_path / "shared"  # type: ignore[operator]
    host_dir.mkdir()
    (host_dir / "in.txt").write_text("from the host\n")
    script = ('printf "%s|" "$TOKEN"; cat /in/in.txt; (echo no > /in/w) 2>/dev/null || echo read-only; '
              'echo shared > /a/f; cat /b/f; while read -r _ at kind _; do [ "$at" = /t ] && echo "$kind"; done '
              '< /proc/mounts; true')
    container = runner.start(AttemptSpec(
        f"{prefix}-mounts", 1, image_id, ("sh", "-c", script), secrets={"TOKEN": "s3cr\net"},
        mounts=(pm.Mount("host", str(host_dir), "/in", True), pm.Mount("scratch", None, "/a"),
                pm.Mount("scratch", None, "/b")), tmpfs=("/t:size=4m",), vcpus=0.25, memory_mib=64))
    assert finish(runner, container) == ("SUCCEEDED", 0, pm.EXITED_REASON)
    lines = [line.message for line in runner.logs(container)[0]]
    assert lines == ["s3cr", "et|from the host", "read-only", "shared", "tmpfs"]
    scratch = pm.scratch_path(container.directory, "scratch")
    assert (scratch / "f").read_text() == "shared\n" and not (host_dir / "w").exists()
    runner.remove(container)
    assert not scratch.exists()


@pytest.mark.root
def test_the_exit_watch_wakes_when_the_container_ends_not_at_the_poll(lab: tuple) -> None:
    """A job's end is seen when its conmon exits (``agent.batch.exits``): the wait returns then, long before
    its timeout, and the container is already exited for podman; a nudge alone ends a wait without an exit."""
    from agent.batch.exits import ExitWatch

    runner, image_id, prefix = lab
    watch = ExitWatch()
    try:
        started = time.monotonic()
        watch.nudge()
        assert watch.wait(30) == set() and time.monotonic() - started < 5
        container = runner.start(AttemptSpec(f"{prefix}-exit", 1, image_id, ("sleep", "1"), vcpus=0.25,
                                             memory_mib=64))
        watch.watch("exit", container.directory / pm.CONMON_PIDFILE)
        started = time.monotonic()
        assert watch.wait(30) == {"exit"}
        assert time.monotonic() - started < 10
        assert runner.poll(container) == ("SUCCEEDED", 0, pm.EXITED_REASON)
        started = time.monotonic()
        assert watch.wait(0.3) == set() and time.monotonic() - started >= 0.3  # the fired pidfd is forgotten
        runner.remove(container)
    finally:
        watch.close()


@pytest.mark.root
def test_ended_containers_are_removed_together_with_their_directories(lab: tuple) -> None:
    runner, image_id, prefix = lab
    started = [runner.start(AttemptSpec(f"{prefix}-many", attempt, image_id, ("true",), vcpus=0.25, memory_mib=64))
               for attempt in (1, 2)]
    for container in started:
        assert finish(runner, container).state == "SUCCEEDED"
    runner.remove(*started)
    for container in started:
        assert runner.poll(container) == ("FAILED", None, pm.MISSING_REASON) and not container.directory.exists()
    assert pm.rm_argv(PODMAN, "a", "b")[-2:] == ["a", "b"]
