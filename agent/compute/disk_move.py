"""A stopped instance's root overlay moving between hosts through the controller (``cloudlet host drain``).

The overlay is a qcow2 over the AMI's base image, and the base image is on every host (each in its own image
cache, at its own path). So only the overlay travels: the source host uploads it as it is (``send_disk``), the
target downloads it (``disk_from``), checks its sha256, and points its backing file at its own cached base
(``qemu-img rebase -u``: the same bytes, only the header's path changes) before it becomes the instance's
root disk. The file appears at its final path only once all of that succeeded, so the planner's spawn, which
keeps an existing root disk and makes a blank overlay otherwise, never runs on a missing or half-moved disk:
an instance whose disk could not be fetched is left out of the pass and tried again on the next.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
from pathlib import Path

from agent.compute.link import ControllerLink
from agent.contract.instances import StagedDisk

log = logging.getLogger("cloudlet.agent.compute")


def file_sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def rebase_command(overlay: Path, base: Path) -> list[str]:
    """Point ``overlay``'s backing file at ``base`` without touching its data (the same base, another path)."""
    return ["qemu-img", "rebase", "-u", "-q", "-F", "qcow2", "-b", str(base), str(overlay)]


def send(link: ControllerLink, instance_id: str, root_disk: Path) -> int:
    """Upload the stopped instance's overlay (its domain is shut off: the file is consistent); its size in bytes.
    Raises OSError (the controller refused it or could not be reached: the next pass tries again)."""
    size = link.upload_instance_disk(instance_id, root_disk, file_sha256(root_disk))
    log.info("disk of %s (%d bytes) sent to the controller for its move", instance_id, size)
    return size


def fetch(link: ControllerLink, instance_id: str, staged: StagedDisk, base: Path, root_disk: Path) -> None:
    """Download the staged overlay, check it, rebase it onto this host's ``base``, and only then put it at
    ``root_disk``. Raises OSError when any step fails (nothing is left at ``root_disk``)."""
    root_disk.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(root_disk.parent, 0o755)
    incoming = root_disk.with_name(f".{root_disk.name}.moving")
    try:
        link.download_instance_disk(instance_id, incoming)
        digest = file_sha256(incoming)
        if digest != staged.sha256:
            raise OSError(f"the disk of {instance_id} arrived with sha256 {digest}, not {staged.sha256}")
        result = subprocess.run(rebase_command(incoming, base), capture_output=True, text=True)
        if result.returncode != 0:
            raise OSError(f"cannot rebase the disk of {instance_id} onto {base}: {result.stderr.strip()}")
        os.replace(incoming, root_disk)
    finally:
        incoming.unlink(missing_ok=True)
    log.info("disk of %s (%d bytes) fetched from %s's move", instance_id, staged.size_bytes,
             staged.source_host_id or "another host")
