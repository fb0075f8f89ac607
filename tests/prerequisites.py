"""What the root, namespace and VM tests need, checked in one place.

Locally a module whose prerequisites are missing is skipped. In CI (``CLOUDLET_REQUIRE_VM_TESTS=1``)
they must run, so a missing prerequisite fails the run instead of hiding behind a skip.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys

import pytest

REQUIRED_ENV = "CLOUDLET_REQUIRE_VM_TESTS"


def missing_root() -> list[str]:
    """``["root"]`` unless this is root on Linux with netlink (network namespaces, nftables)."""
    ok = sys.platform == "linux" and hasattr(socket, "AF_NETLINK") and os.geteuid() == 0
    return [] if ok else ["root"]


def missing_tools(*tools: str) -> list[str]:
    return [tool for tool in tools if shutil.which(tool) is None]


#: What every test that boots guests through libvirt needs on the host.
VM_TOOLS = ("qemu-system-x86_64", "qemu-img", "virsh", "libvirtd", "dnsmasq", "nft", "nsenter")


def missing_for_vms(*extra_tools: str) -> list[str]:
    """What this host lacks to boot guests (tools, root, the libvirt and paramiko modules), plus ``extra_tools``."""
    missing = missing_tools(*VM_TOOLS, *extra_tools) + missing_root()
    for module in ("libvirt", "paramiko"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    return missing


def require(missing: list[str], what: str) -> None:
    """Skip the calling module when ``missing`` is not empty; fail it instead where CI requires it."""
    if not missing:
        return
    message = f"{what} need {', '.join(missing)}"
    if os.environ.get(REQUIRED_ENV) == "1":
        pytest.fail(f"{message} ({REQUIRED_ENV}=1: they must run here)", pytrace=False)
    pytest.skip(message, allow_module_level=True)
