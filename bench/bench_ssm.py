"""Systems Manager: Session Manager keystroke round trips against SSH, and Run Command fan-out to 20 machines.

One ``cloudlet up`` (controller only) and hybrid machines on this host: Cloudlet's agent
(``images/ssm-agent``) registered with an activation, as on any on-premises machine.

- **Keystrokes.** One character typed into a shell and its echo read back, one at a time, p50/p99:
  through a Session Manager session (the AgentMessage protocol over the data channel: client → controller's
  relay → agent → pty, and back) and, side by side, through SSH to the same machine (dropbear, the SSH server
  of Cloudlet's tiny AMI, started in a mount namespace of its own so its authorized key is the bench's) with
  paramiko. SSH is the limit a remote shell has here.
- **Fan-out.** ``SendCommand`` of ``echo`` to 20 machines, timed until ListCommands says Success, median
  of several rounds; beside it, the same 20 shells started locally at once (the work's own cost).

    .venv/bin/python bench/bench_ssm.py [--keystrokes 300] [--rounds 7] [--machines 20]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import paramiko
from common import REPO, free_port, percentile, report, wait_for_port

from controller.ssmmessages.client import DataChannel
from tests.e2e.ssm_fleet import running_fleet
from tests.support import CloudletProcess

DROPBEAR_ROOT = REPO / "images" / "out" / "cache" / "tiny-rootfs" / "pkgroot"


def keystrokes(send: Callable[[bytes], object], receive: Callable[[], bytes], count: int) -> list[float]:
    """Milliseconds from typing ``x`` to reading its echo, ``count`` times."""
    times = []
    for _ in range(count):
        began = time.perf_counter()
        send(b"x")
        received = b""
        while b"x" not in received:
            received += receive()
        times.append((time.perf_counter() - began) * 1000)
    send(b"\x15")  # Ctrl-U: nothing typed is run
    return times


def ssm_keystrokes(cloudlet: CloudletProcess, target: str, count: int) -> list[float]:
    session = cloudlet.client("ssm").start_session(Target=target)
    channel = DataChannel(session["StreamUrl"], session["TokenValue"])
    output = channel.output()
    channel.send_size(120, 40)
    channel.send_input(b"PS1='$ '\n")
    while b"$ " not in next(output):
        pass
    try:
        return keystrokes(channel.send_input, lambda: next(output), count)
    finally:
        channel.send_input(b"exit\n")
        channel.close()


@contextmanager
def dropbear(work: Path) -> Iterator[tuple[int, paramiko.Ed25519Key]]:
    """dropbear on 127.0.0.1, in a mount namespace whose /root holds only the bench's authorized key."""
    binary = DROPBEAR_ROOT / "usr" / "sbin" / "dropbear"
    if not binary.exists():
        raise SystemExit(f"no dropbear at {binary}: build the tiny AMI first (make images)")
    home = work / "root"
    (home / ".ssh").mkdir(parents=True)
    key_file = work / "client_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key_file)], check=True)
    (home / ".ssh" / "authorized_keys").write_text((work / "client_key.pub").read_text())
    (home / ".ssh").chmod(0o700)
    key = paramiko.Ed25519Key.from_private_key_file(str(key_file))
    port = free_port()
    libraries = DROPBEAR_ROOT / "usr" / "lib" / "x86_64-linux-gnu"
    host_key = work / "host_key"
    subprocess.run([str(DROPBEAR_ROOT / "usr" / "bin" / "dropbearkey"), "-t", "ed25519", "-f", str(host_key)],
                   env={"LD_LIBRARY_PATH": str(libraries)}, check=True, capture_output=True)
    script = (f"mount --bind {home} /root && exec env LD_LIBRARY_PATH={libraries} {binary} -F -E -s -p "
              f"127.0.0.1:{port} -r {host_key}")
    server = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield port, key
    finally:
        server.terminate()
        server.wait(timeout=10)


def ssh_keystrokes(address: str, key: paramiko.PKey, count: int, **connect: Any) -> list[float]:
    """Keystroke round trips over SSH as root to ``address`` (``connect``: paramiko's port, sock...)."""
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect(address, username="root", pkey=key, allow_agent=False, look_for_keys=False, banner_timeout=30,
                   **connect)
    try:
        shell = client.invoke_shell(width=120, height=40)
        shell.send(b"PS1='$ '\n")
        seen = b""
        while b"$ " not in seen:
            seen += shell.recv(65536)
        time.sleep(0.5)
        while shell.recv_ready():
            shell.recv(65536)
        return keystrokes(shell.send, lambda: shell.recv(65536), count)
    finally:
        client.close()


def command_rounds(ssm: Any, rounds: int, **target: Any) -> list[float]:
    """Seconds from SendCommand of ``echo`` (to ``target``: InstanceIds or Targets) to ListCommands' Success,
    ``rounds`` times."""
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        command = ssm.send_command(DocumentName="AWS-RunShellScript", Parameters={"commands": ["echo fan-out"]},
                                   **target)["Command"]
        while True:
            status = ssm.list_commands(CommandId=command["CommandId"])["Commands"][0]
            if status["Status"] not in ("Pending", "InProgress"):
                break
            time.sleep(0.01)
        times.append(time.perf_counter() - began)
        assert status["Status"] == "Success" and status["CompletedCount"] == command["TargetCount"], status
    return times


def local_spawns(count: int, rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        shells = [subprocess.Popen(["/bin/sh", "-c", "echo fan-out"], stdout=subprocess.DEVNULL)
                  for _ in range(count)]
        for shell in shells:
            shell.wait()
        times.append(time.perf_counter() - began)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keystrokes", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--machines", type=int, default=20)
    args = parser.parse_args()
    if shutil.which("unshare") is None or os.geteuid() != 0:
        raise SystemExit("bench_ssm needs root and unshare (dropbear runs in a mount namespace)")
    work = Path(tempfile.mkdtemp(prefix="bench-ssm-"))
    cloudlet = CloudletProcess(work / "data").start()
    try:
        with running_fleet(cloudlet, work / "fleet", size=args.machines) as fleet:
            ids = [machine.instance_id for machine in fleet.machines]
            ssm_ms = ssm_keystrokes(cloudlet, ids[0], args.keystrokes)
            with dropbear(work / "ssh") as (port, key):
                ssh_ms = ssh_keystrokes("127.0.0.1", key, args.keystrokes, port=port)
            fan = command_rounds(cloudlet.client("ssm"), args.rounds, InstanceIds=ids)
            local = local_spawns(len(ids), args.rounds)
    finally:
        cloudlet.stop()
        shutil.rmtree(work, ignore_errors=True)
    ssm_p50, ssm_p99 = statistics.median(ssm_ms), percentile(ssm_ms, 0.99)
    ssh_p50, ssh_p99 = statistics.median(ssh_ms), percentile(ssh_ms, 0.99)
    print(f"\nkeystroke round trip ({args.keystrokes} keys)   p50        p99")
    print(f"  Session Manager              {ssm_p50:7.2f} ms {ssm_p99:7.2f} ms")
    print(f"  SSH (dropbear, paramiko)     {ssh_p50:7.2f} ms {ssh_p99:7.2f} ms")
    fan_median, local_median = statistics.median(fan), statistics.median(local)
    print(f"\nRun Command fan-out to {len(ids)} machines: median {fan_median * 1000:.0f} ms over {args.rounds} "
          f"rounds; {len(ids)} local shells at once: {local_median * 1000:.1f} ms")
    report("session keystroke round trip p50 over SSH's", ssm_p50 / ssh_p50, "x", ssm_ms=round(ssm_p50, 3),
           ssh_ms=round(ssh_p50, 3))
    report("session keystroke round trip p99 over SSH's", ssm_p99 / ssh_p99, "x", ssm_ms=round(ssm_p99, 3),
           ssh_ms=round(ssh_p99, 3))
    report(f"Run Command fan-out to {len(ids)} machines, until Success", fan_median * 1000, "ms",
           local_spawn_ms=round(local_median * 1000, 2), rounds=json.dumps([round(t, 3) for t in fan]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
