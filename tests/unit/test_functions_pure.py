"""The pure parts of the host's function runner: Lambda's log lines, CPU by memory, the sandbox's command."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from agent.functions import reports
from agent.functions.sandbox import Layout, bwrap_argv, cpu_quota_us


def test_report_line_is_lambda_s_tab_separated_format() -> None:
    line = reports.report("r-1", duration_ms=1.234, memory_mb=128, max_memory_mb=40, init_ms=150.0)
    assert line == ("REPORT RequestId: r-1\tDuration: 1.23 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\t"
                    "Max Memory Used: 40 MB\tInit Duration: 150.00 ms\t\n")
    warm = reports.report("r-2", duration_ms=0.2, memory_mb=128, max_memory_mb=40, init_ms=None, status="timeout")
    assert "Init Duration" not in warm and warm.endswith("Status: timeout\t\n") and "Billed Duration: 1 ms" in warm


def test_log_stream_and_timeout_lines() -> None:
    assert reports.log_stream_name(dt.date(2026, 12, 4), "$LATEST", "ab" * 16) == f"2026/12/04/[$LATEST]{'ab' * 16}"
    at = dt.datetime(2026, 12, 4, 19, 0, 0, 123456, tzinfo=dt.UTC)
    assert reports.timed_out("r-1", 3, at) == "2026-12-04T19:00:00.123Z r-1 Task timed out after 3.00 seconds\n"


def test_cpu_grows_linearly_with_memory_one_vcpu_at_1769_mb() -> None:
    assert cpu_quota_us(1769) == 100_000
    assert cpu_quota_us(3538) == 200_000
    assert cpu_quota_us(128) == 7235
    assert cpu_quota_us(1) == 1000  # CFS's floor


def test_sandbox_sees_aws_s_layout_read_only_with_a_sized_tmp() -> None:
    layout = Layout(task=Path("/s/task"), runtime=Path("/s/rt"), opt=Path("/s/opt"), tmp_mb=512)
    argv = bwrap_argv(layout, ["python3", "-m", "awslambdaric", "app.handler"], "localhost")
    joined = " ".join(argv)
    for pair in ("--ro-bind /s/task /var/task", "--ro-bind /s/rt /var/runtime", "--ro-bind /s/opt /opt",
                 "--ro-bind /usr /usr", f"--size {512 * 2**20} --tmpfs /tmp", "--unshare-pid", "--uid 993"):
        assert pair in joined
    assert argv[-5:] == ["--", "python3", "-m", "awslambdaric", "app.handler"]
    image = bwrap_argv(Layout(task=Path("/i"), runtime=Path("/rt"), opt=None, tmp_mb=512, rootfs=Path("/i/rootfs"),
                              workdir="/var/task"), ["/entry"], "localhost")
    assert "--ro-bind /i/rootfs /" in " ".join(image) and "/var/runtime" not in image
