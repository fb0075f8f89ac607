"""An execution environment's confinement: the bubblewrap command line (pure) and its cgroup.

Each environment is a process tree in new mount, PID, IPC, UTS and user namespaces, running as an
unprivileged user (uid 993, like Lambda's ``sbx_user1051``), that sees AWS's layout: ``/var/task`` (the
package, read-only), ``/opt`` (the layers, read-only), ``/var/runtime`` (the runtime client), ``/tmp`` (a
tmpfs of the function's ephemeral storage size), and the host's ``/usr`` read-only. It shares the host's
network namespace so it reaches its Runtime API and the Cloudlet endpoint on 127.0.0.1 (VPC-attached
functions are not placed in their subnet yet). Its cgroup caps memory at the function's memory size and,
once init is done, CPU at ``memory / 1769`` vCPUs, AWS's linear scale (init runs unthrottled, as Lambda
boosts it).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

SANDBOX_UID = 993
SANDBOX_GID = 990
#: Lambda gives one full vCPU at 1,769 MB and scales CPU linearly with memory.
MB_PER_VCPU = 1769
CFS_PERIOD_US = 100_000
CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class Layout:
    """Host paths an environment sees, and where."""

    task: Path
    runtime: Path
    opt: Path | None
    tmp_mb: int
    #: An image's root filesystem (then ``task``/``runtime``/``opt`` come from the image itself).
    rootfs: Path | None = None
    workdir: str = "/var/task"
    extra_binds: tuple[str, ...] = ()


def bwrap_argv(layout: Layout, command: list[str], hostname: str) -> list[str]:
    """The ``bwrap`` invocation that starts ``command`` inside the environment."""
    argv = ["bwrap", "--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_GID), "--hostname", hostname,
            "--die-with-parent", "--new-session"]
    if layout.rootfs is not None:
        argv += ["--ro-bind", str(layout.rootfs), "/"]
    else:
        argv += ["--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
                 "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin",
                 "--ro-bind", str(layout.task), "/var/task", "--ro-bind", str(layout.runtime), "/var/runtime"]
        if layout.opt is not None:
            argv += ["--ro-bind", str(layout.opt), "/opt"]
        for etc in ("/etc/ssl", "/etc/ca-certificates", "/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf",
                    "/etc/localtime"):
            if os.path.exists(etc):
                argv += ["--ro-bind", etc, etc]
        for path in layout.extra_binds:
            argv += ["--ro-bind", path, path]
    argv += ["--proc", "/proc", "--dev", "/dev", "--size", str(layout.tmp_mb * 1024 * 1024), "--tmpfs", "/tmp",
             "--chdir", layout.workdir, "--", *command]
    return argv


def cpu_quota_us(memory_mb: int) -> int:
    """CFS quota per 100 ms period for a function of ``memory_mb`` (at least 1 ms, as CFS requires)."""
    return max(1000, CFS_PERIOD_US * memory_mb // MB_PER_VCPU)


class Cgroup:
    """The environment's cgroup (v1 ``memory`` + ``cpu`` controllers, or one v2 group), removed on close."""

    def __init__(self, name: str, memory_mb: int) -> None:
        self.memory_mb = memory_mb
        self.v2 = (CGROUP_ROOT / "cgroup.controllers").exists()
        if self.v2:
            self.dirs = [CGROUP_ROOT / name]
        else:
            self.dirs = [CGROUP_ROOT / "memory" / name, CGROUP_ROOT / "cpu" / name]
        for path in self.dirs:
            path.mkdir(exist_ok=True)
        limit = memory_mb * 1024 * 1024
        if self.v2:
            self._write(self.dirs[0] / "memory.max", limit)
            self._write(self.dirs[0] / "memory.swap.max", 0)
        else:
            self._write(self.dirs[0] / "memory.limit_in_bytes", limit)
            self._write(self.dirs[0] / "memory.memsw.limit_in_bytes", limit)

    @property
    def procs_files(self) -> list[str]:
        """The files a process writes its pid into to join (before it execs the sandbox)."""
        return [str(path / "cgroup.procs") for path in self.dirs]

    def throttle_cpu(self) -> None:
        quota = cpu_quota_us(self.memory_mb)
        if self.v2:
            self._write(self.dirs[0] / "cpu.max", f"{quota} {CFS_PERIOD_US}")
        else:
            self._write(self.dirs[1] / "cpu.cfs_period_us", CFS_PERIOD_US)
            self._write(self.dirs[1] / "cpu.cfs_quota_us", quota)

    def max_memory_mb(self) -> int:
        """Peak memory use since the environment started (MB, rounded up as Lambda reports it)."""
        name = "memory.peak" if self.v2 else "memory.max_usage_in_bytes"
        try:
            peak = int((self.dirs[0] / name).read_text())
        except (OSError, ValueError):
            return 0
        return min(self.memory_mb, -(-peak // (1024 * 1024)))

    def oom_killed(self) -> bool:
        """Whether the kernel killed a process of this group for its memory limit."""
        name = "memory.events" if self.v2 else "memory.oom_control"
        try:
            text = (self.dirs[0] / name).read_text()
        except OSError:
            return False
        counts = dict(line.split() for line in text.splitlines() if len(line.split()) == 2)
        return int(counts.get("oom_kill", "0")) > 0

    def kill(self) -> None:
        """SIGKILL every process still in the group (a function may have left children behind)."""
        for _ in range(3):
            try:
                pids = [int(pid) for pid in (self.dirs[0] / "cgroup.procs").read_text().split()]
            except OSError:
                return
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def close(self) -> None:
        self.kill()
        for path in self.dirs:
            with contextlib.suppress(OSError):
                path.rmdir()

    @staticmethod
    def _write(path: Path, value: object) -> None:
        try:
            path.write_text(str(value))
        except OSError:
            if path.name not in ("memory.memsw.limit_in_bytes", "memory.swap.max"):  # no swap accounting
                raise


def remove_stale_cgroups(prefix: str, older_than_s: float = 60.0) -> int:
    """Remove empty cgroups named ``prefix*`` that an agent killed before its cleanup left behind.

    Only empty groups go (the kernel refuses to remove a group with processes, so another agent's live
    environments are safe), and only old ones, so a group another agent just made and is about to join
    is left alone. Returns how many were removed."""
    parents = [CGROUP_ROOT] if (CGROUP_ROOT / "cgroup.controllers").exists() else [
        CGROUP_ROOT / "memory", CGROUP_ROOT / "cpu"]
    removed = 0
    cutoff = time.time() - older_than_s
    for parent in parents:
        for group in parent.glob(prefix + "*"):
            with contextlib.suppress(OSError):
                if group.stat().st_mtime < cutoff:
                    group.rmdir()
                    removed += 1
    return removed
