"""One Batch attempt as a container, without a container engine: the image's root filesystem, new mount, PID,
UTS and IPC namespaces (busybox ``unshare``), ``chroot`` into the root, the definition's environment, command,
user and working directory, and a cgroup v2 group holding its memory and CPU limits. The network is the
instance's own, as Batch on EC2 runs jobs.

``python3 container.py FD`` is the second stage (its spec read from the pipe ``FD``), run by ``unshare`` inside the new namespaces: it mounts
``/proc``, ``/dev``, the mount points (host paths of the instance or scratch volumes, read-only where asked)
and ``tmpfs`` mounts into the root, makes the root read-only if asked, sets the ``ulimits``, enters it and
executes the command.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_PARENT = CGROUP_ROOT / "cloudlet-batch"
#: The CPU period cpu.max quotas are measured against (µs).
CPU_PERIOD = 100_000
#: Linux's RLIMIT_LOCKS, which Python's ``resource`` does not name.
RLIMIT_LOCKS = 10
#: ``ulimits`` names, as Docker and ECS spell them, and the limits they set.
ULIMITS = {"core": resource.RLIMIT_CORE, "cpu": resource.RLIMIT_CPU, "data": resource.RLIMIT_DATA,
           "fsize": resource.RLIMIT_FSIZE, "locks": RLIMIT_LOCKS, "memlock": resource.RLIMIT_MEMLOCK,
           "msgqueue": resource.RLIMIT_MSGQUEUE, "nice": resource.RLIMIT_NICE, "nofile": resource.RLIMIT_NOFILE,
           "nproc": resource.RLIMIT_NPROC, "rss": resource.RLIMIT_RSS, "rtprio": resource.RLIMIT_RTPRIO,
           "rttime": resource.RLIMIT_RTTIME, "sigpending": resource.RLIMIT_SIGPENDING,
           "stack": resource.RLIMIT_STACK}


def ensure_cgroups() -> None:
    """cgroup v2 mounted, its memory and cpu controllers handed to the parent group of every attempt."""
    if not (CGROUP_ROOT / "cgroup.controllers").exists():
        subprocess.run(["mount", "-t", "cgroup2", "none", str(CGROUP_ROOT)], check=True)
    (CGROUP_ROOT / "cgroup.subtree_control").write_text("+memory +cpu")
    CGROUP_PARENT.mkdir(exist_ok=True)
    (CGROUP_PARENT / "cgroup.subtree_control").write_text("+memory +cpu")


def limits(vcpus: float, memory_mib: int) -> dict[str, str]:
    """The cgroup files and values of an attempt's limits (pure)."""
    return {"memory.max": str(int(memory_mib) * 1024 * 1024), "memory.swap.max": "0",
            "cpu.max": f"{max(1000, int(vcpus * CPU_PERIOD))} {CPU_PERIOD}"}


def command_of(spec: dict[str, Any], config: dict[str, Any]) -> list[str]:
    """The argv: the image's entrypoint, then the job's command or else the image's (pure)."""
    return list(config.get("Entrypoint") or []) + list(spec.get("command") or config.get("Cmd") or [])


def environment_of(spec: dict[str, Any], config: dict[str, Any]) -> dict[str, str]:
    """The image's Env, then the attempt's variables over it (pure)."""
    env = dict(item.split("=", 1) for item in config.get("Env") or [] if "=" in item)
    env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    env.update(spec.get("environment") or {})
    return env


def binds(spec: dict[str, Any], scratch: Path) -> list[tuple[str, str, bool]]:
    """The attempt's mount points as ``(source on the instance, path in the container, read-only)``: a host
    volume's ``sourcePath`` on the instance, or the attempt's scratch directory for a volume without one
    (shared by every mount point naming it, gone with the attempt), as ECS mounts them on EC2."""
    out = []
    for mount in spec.get("mounts") or []:
        source = mount["source"] or str(scratch / mount["volume"])
        if not mount["source"]:
            os.makedirs(source, exist_ok=True)
        out.append((source, mount["target"], mount["read_only"]))
    return out


def _inside(root: Path, path: str) -> str:
    """``path`` of the container, made under ``root`` if missing; refuses one that leads out of ``root``
    through the image's symlinks, as a mount there would cover the instance's own files."""
    target = (root / path.lstrip("/")).resolve()
    if target != root.resolve() and root.resolve() not in target.parents:
        raise SystemExit(f"CannotStartContainerError: mount point {path} leads outside the container")
    target.mkdir(parents=True, exist_ok=True)
    return str(target)


class Container:
    """A started attempt: its process (``unshare``, whose exit status is the command's) and cgroup."""

    def __init__(self, name: str, root: Path, spec: dict[str, Any], config: dict[str, Any], log_path: Path) -> None:
        self.cgroup = CGROUP_PARENT / name
        self.cgroup.mkdir(exist_ok=True)
        for key, value in limits(spec.get("vcpus") or 1, spec.get("memory_mib") or 2048).items():
            (self.cgroup / key).write_text(value)
        stage = {"root": str(root), "argv": command_of(spec, config), "env": environment_of(spec, config),
                 "workdir": spec.get("workdir") or config.get("WorkingDir") or "/",
                 "user": spec.get("user") or config.get("User") or "0",
                 "binds": binds(spec, root.parent / "volumes"), "tmpfs": spec.get("tmpfs") or [],
                 "read_only_root": bool(spec.get("read_only_root")), "ulimits": spec.get("ulimits") or []}
        procs = str(self.cgroup / "cgroup.procs")

        def enter_cgroup() -> None:  # in the child before exec: everything it starts counts against the group
            with open(procs, "w") as handle:
                handle.write(str(os.getpid()))

        # The stage goes through a pipe, not argv: its environment may hold the job's secrets, and every
        # process on the instance may read another's command line.
        stage_read, stage_write = os.pipe()
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                ["busybox", "unshare", "--mount", "--pid", "--uts", "--ipc", "--fork", "--",
                 sys.executable, __file__, str(stage_read)], pass_fds=(stage_read,),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, preexec_fn=enter_cgroup)
        os.close(stage_read)
        with os.fdopen(stage_write, "w") as pipe:
            json.dump(stage, pipe)

    def poll(self) -> int | None:
        code = self.process.poll()
        return None if code is None else (128 - code if code < 0 else code)

    def oom_killed(self) -> bool:
        try:
            events = (self.cgroup / "memory.events").read_text()
        except OSError:
            return False
        return any(line.split()[0] == "oom_kill" and int(line.split()[1]) > 0 for line in events.splitlines())

    def kill(self) -> None:
        """Every process of the group (the namespace's init first takes the rest with it)."""
        try:
            (self.cgroup / "cgroup.kill").write_text("1")
        except OSError:
            self.process.send_signal(signal.SIGKILL)

    def remove(self) -> None:
        with contextlib.suppress(OSError):  # a process may linger a moment; the group is empty soon after
            self.cgroup.rmdir()


def _ids(root: Path, user: str) -> tuple[int, int]:
    """uid and gid of ``user`` (``name``, ``uid`` or ``uid:gid``), names read from the image's /etc/passwd."""
    name, _, group = user.partition(":")
    if not name.isdigit():
        for line in (root / "etc/passwd").read_text().splitlines() if (root / "etc/passwd").exists() else []:
            fields = line.split(":")
            if fields[0] == name:
                return int(fields[2]), int(group or fields[3])
        raise SystemExit(f"CannotStartContainerError: unable to find user {name}")
    return int(name), int(group or name)


def second_stage(stage: dict[str, Any]) -> None:
    """Inside the new namespaces: a private mount tree, /proc and /dev in the root, chroot, drop, exec."""
    root = Path(stage["root"])
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)
    if stage["read_only_root"]:  # a mount of its own, made read-only once everything is mounted in it
        subprocess.run(["mount", "--bind", str(root), str(root)], check=True)
    subprocess.run(["mount", "-t", "proc", "proc", str(root / "proc")], check=True)
    subprocess.run(["mount", "--rbind", "/dev", str(root / "dev")], check=True)
    for source, path, read_only in stage["binds"]:
        target = _inside(root, path)
        subprocess.run(["mount", "--bind", source, target], check=True)
        if read_only:
            subprocess.run(["mount", "-o", "remount,bind,ro", target], check=True)
    for entry in stage["tmpfs"]:  # "path:size=<n>m[,options]", as the controller writes it for podman too
        path, _, options = entry.partition(":")
        subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", _inside(root, path)], check=True)
    if stage["read_only_root"]:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(root)], check=True)
    for limit in stage["ulimits"]:
        resource.setrlimit(ULIMITS[limit["name"]], (limit["soft"], limit["hard"]))
    uid, gid = _ids(root, stage["user"])
    os.chroot(root)
    os.chdir(stage["workdir"])
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    os.execvpe(stage["argv"][0], stage["argv"], stage["env"])


if __name__ == "__main__":
    with os.fdopen(int(sys.argv[1])) as stage_pipe:
        second_stage(json.load(stage_pipe))
