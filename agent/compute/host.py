"""Host preparation the compute driver depends on, done by the agent at start (it runs as root).

/dev/kvm access: Debian's udev rule makes /dev/kvm ``root:kvm 0660`` and libvirt runs QEMU as
libvirt-qemu, a member of ``kvm``. On hosts without udev (minimal VMs, containers) the node stays
``root 0600``. libvirt then sees KVM as "not available now" although its cached QEMU capabilities say
it was, throws the cache away and re-probes QEMU (~2 s) several times per call: starting one domain took
44 s instead of 0.5 s on the CI machines. Restoring the udev rule's owner and mode fixes it whether or not
guests later run under KVM.
"""

from __future__ import annotations

import grp
import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("cloudlet.agent.compute")

KVM_DEVICE = Path("/dev/kvm")


def ensure_kvm_device_access(device: Path = KVM_DEVICE, group: str = "kvm") -> bool:
    """Make ``device`` ``root:<group> 0660`` as udev would; False if there is no such device or group."""
    try:
        info = device.stat()
        gid = grp.getgrnam(group).gr_gid
    except (FileNotFoundError, KeyError):
        return False
    if info.st_gid != gid or stat.S_IMODE(info.st_mode) & 0o060 != 0o060:
        os.chown(device, 0, gid)
        os.chmod(device, stat.S_IMODE(info.st_mode) | 0o660)
        log.info("%s: set to root:%s 0660 (as udev would) so libvirt keeps its QEMU capabilities", device, group)
    return True
