"""What a job's ``volumes``, ``mountPoints`` and ``linuxParameters`` (devices, tmpfs) become on the host (pure).

- A volume with ``host.sourcePath`` is that host directory, bind-mounted (EC2 only: RegisterJobDefinition
  refuses it for Fargate, ``controller.batch.containers``).
- A volume without one is a scratch volume: an empty directory the agent makes per attempt and removes with the
  attempt's container, shared by every mount point naming it, as Docker's unnamed volumes are on ECS.
- ``efsVolumeConfiguration`` cannot be mounted: the hosts' kernel has no NFS client. ECS fails such a task
  before it starts when the EFS mount helper fails, so the attempt fails the same way, naming why.
- ``linuxParameters.devices`` become ``--device``, ``tmpfs`` become ``--tmpfs`` mounts.

The agent gets the result in the attempt's section entry (``controller.batch.attempts.entry``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: ``permissions`` of a device as podman spells them.
DEVICE_PERMISSIONS = {"READ": "r", "WRITE": "w", "MKNOD": "m"}


def unmountable(container: Mapping[str, Any]) -> str | None:
    """The status reason of an attempt whose volumes cannot be set up here, or None."""
    for volume in container.get("volumes") or []:
        efs = volume.get("efsVolumeConfiguration")
        if efs:
            return ("ResourceInitializationError: failed to invoke EFS utils commands to set up EFS volumes: "
                    f"volume {volume.get('name')} (file system {efs.get('fileSystemId')}) cannot be mounted: "
                    "Cloudlet's hosts have no NFS client, so EFS file systems cannot be mounted in Batch jobs")
        source = (volume.get("host") or {}).get("sourcePath")
        if source and not str(source).startswith("/"):
            return (f"CannotCreateContainerError: volume {volume.get('name')}: host sourcePath {source} is not an "
                    "absolute path")
    for mount in container.get("mountPoints") or []:
        if not str(mount.get("containerPath") or "").startswith("/"):
            return f"CannotCreateContainerError: mountPoints containerPath {mount.get('containerPath')} is not " \
                   "an absolute path"
    return None


def mounts(container: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each mount point as ``{"volume", "source", "target", "read_only"}``; ``source`` None for scratch."""
    sources = {volume["name"]: (volume.get("host") or {}).get("sourcePath") or None
               for volume in container.get("volumes") or []}
    return [{"volume": mount["sourceVolume"], "source": sources.get(mount["sourceVolume"]),
             "target": mount["containerPath"], "read_only": bool(mount.get("readOnly"))}
            for mount in container.get("mountPoints") or []]


def devices(container: Mapping[str, Any]) -> list[str]:
    """``host:container:permissions`` for podman's ``--device`` (all permissions when none are given)."""
    out = []
    for device in (container.get("linuxParameters") or {}).get("devices") or []:
        permissions = "".join(DEVICE_PERMISSIONS[item] for item in device.get("permissions") or DEVICE_PERMISSIONS)
        out.append(f"{device['hostPath']}:{device.get('containerPath') or device['hostPath']}:{permissions}")
    return out


def tmpfs(container: Mapping[str, Any]) -> list[str]:
    """``path:size=<n>m[,options]`` for podman's ``--tmpfs``."""
    out = []
    for mount in (container.get("linuxParameters") or {}).get("tmpfs") or []:
        options = [f"size={int(mount['size'])}m", *(mount.get("mountOptions") or [])]
        out.append(f"{mount['containerPath']}:{','.join(options)}")
    return out
