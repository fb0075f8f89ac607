"""The AMIs' Instance Connect readers parse what the controller serves (keys.entry), and only the live keys."""

from __future__ import annotations

import datetime as dt
import importlib.machinery
import importlib.util
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

from controller.ec2_instance_connect import keys

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "images/tiny/rootfs/usr/lib/cloudlet/instance-connect"
DEBIAN = REPO / "images/debian-cloud/eic-authorized-keys"
LIVE = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl live"
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def served() -> str:
    """A user's entries: one live key of i-1, one expired, one of another instance."""
    base = {"key_id": 1, "instance_id": "i-1", "os_user": "root", "public_key": LIVE,
            "caller_arn": "arn:aws:iam::111111111111:user/u", "request_id": "r", "expires_at": NOW}
    rows = [{**base, "expires_at": NOW + dt.timedelta(seconds=60)},
            {**base, "key_id": 2, "public_key": "ssh-ed25519 OLD", "expires_at": NOW + dt.timedelta(seconds=1)},
            {**base, "key_id": 3, "instance_id": "i-2", "public_key": "ssh-ed25519 OTHER",
             "expires_at": NOW + dt.timedelta(seconds=60)}]
    return keys.active_keys(rows, NOW)["root"]


def debian_script() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("eic_authorized_keys", str(DEBIAN))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_the_debian_command_prints_live_keys_of_this_instance() -> None:
    script = debian_script()
    later = int(NOW.timestamp()) + 5
    assert script.active_keys(served(), "i-1", later) == [LIVE]
    assert script.fingerprint(LIVE) == "SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU"  # as ssh-keygen -l says


@pytest.mark.skipif(shutil.which("busybox") is None, reason="busybox is not installed")
def test_the_tiny_loop_keeps_live_keys_of_this_instance() -> None:
    function = subprocess.run(["sed", "-n", "/^active()/,/^}/p", str(TINY)], capture_output=True, text=True,
                              check=True).stdout
    # The metadata service's answer arrives with CRLF line ends through nc: the loop must not mind.
    result = subprocess.run(["busybox", "sh", "-c", f"{function}\nactive i-1 {int(NOW.timestamp()) + 5}"],
                            input=served().replace("\n", "\r\n"), env={"CR": "\r", "PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True, check=True, timeout=10)
    assert result.stdout.splitlines() == [LIVE]
