"""nfs-ganesha's configuration for one mount target (pure: mount target and paths in, text out).

What the server is, and why:

* NFSv4 only (minor versions 0, 1 and 2; AWS EFS serves 4.0 and 4.1), TCP only, on the mount target's
  address and port 2049: no NFSv3, so no rpcbind, NLM or RQUOTA (ganesha exits when NFSv3 is on without an
  rpcbind in its namespace), nothing on UDP.
* ``Graceless``: no grace period after a (re)start, so a restarted server serves at once; its recovery
  directory is its own, so two servers of one file system never share client state.
* Numeric owners only: Linux clients with AUTH_SYS send numeric uids/gids, as EFS expects.
* Export 1 is the file system's root at the pseudo path ``/``, without root squashing (EFS's default).
* Each access point is one more export of its root directory. NFSv4 clients only reach exports through
  the pseudo file system, and ganesha hangs an export below a VFS export only on an existing directory,
  so an access point is mounted at ``/.access-points/<fsap-id>`` (the agent keeps that empty junction
  directory). Its POSIX user becomes ``Squash = All`` with that uid and gid: every request through the
  access point acts as that user, whatever the client sends (secondary gids cannot be expressed).
* The file system policy, as the controller evaluated it for an anonymous client (``ClientAccess``):
  no ClientMount leaves the export out (for the root, ganesha's own read-only pseudo file system then
  holds the access points' junctions, so a policy that allows mounts through access points only works),
  no ClientWrite makes it read-only, no ClientRootAccess squashes root.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.contract.efs import AccessPoint, ClientAccess, MountTarget

NFS_PORT = 2049
#: Where the access points' exports hang in the pseudo file system (a directory of the file system root).
JUNCTION_DIR = ".access-points"


@dataclass(frozen=True)
class ServerPaths:
    """The host paths one server uses: the file system's data, its exported access point directories
    (by access point id; an access point whose directory cannot exist is left out), and its own files."""

    data_dir: str
    recovery_dir: str
    access_point_dirs: dict[str, str]


def junction(access_point_id: str) -> str:
    """The pseudo path a client mounts an access point at."""
    return f"/{JUNCTION_DIR}/{access_point_id}"


def config(target: MountTarget, paths: ServerPaths) -> str:
    """The whole ``ganesha.conf`` of the mount target's server."""
    blocks = [
        _block("NFS_CORE_PARAM", {"Protocols": "4", "Bind_addr": target.ip, "NFS_Port": str(NFS_PORT),
                                  "Enable_NLM": "false", "Enable_RQUOTA": "false", "Enable_UDP": "false"}),
        _block("NFSV4", {"Graceless": "true", "Minor_Versions": "0, 1, 2", "Allow_Numeric_Owners": "true",
                         "Only_Numeric_Owners": "true", "RecoveryBackend": "fs",
                         "RecoveryRoot": _quote(paths.recovery_dir)}),
        _block("NFS_KRB5", {"Active_krb5": "false"}),
    ]
    if target.client_access.mount:
        blocks.append(_export(1, paths.data_dir, "/", None, target.client_access))
    points = sorted(target.access_points, key=lambda point: point.access_point_id)
    export_id = 2
    for point in points:
        directory = paths.access_point_dirs.get(point.access_point_id)
        if directory is not None and point.client_access.mount:
            blocks.append(_export(export_id, directory, junction(point.access_point_id), point,
                                  point.client_access))
            export_id += 1
    return "".join(blocks)


def _export(export_id: int, path: str, pseudo: str, point: AccessPoint | None, access: ClientAccess) -> str:
    fields = {"Export_Id": str(export_id), "Path": _quote(path), "Pseudo": _quote(pseudo), "Protocols": "4",
              "Transports": "TCP", "Access_Type": "RW" if access.write else "RO", "SecType": "sys"}
    user = point.posix_user if point else None
    if user is None:
        fields["Squash"] = "No_Root_Squash" if access.root else "Root_Squash"
    else:
        fields.update({"Squash": "All", "Anonymous_Uid": str(user.uid), "Anonymous_Gid": str(user.gid)})
    return _block("EXPORT", fields, inner=_block("FSAL", {"Name": "VFS"}, indent="\t"))


def _block(name: str, fields: dict[str, str], inner: str = "", indent: str = "") -> str:
    lines = [f"{indent}{name} {{"]
    lines += [f"{indent}\t{key} = {value};" for key, value in fields.items()]
    text = "\n".join(lines) + "\n" + inner
    return text + f"{indent}}}\n"


def _quote(value: str) -> str:
    """A double-quoted ganesha string; the paths come from IDs the section checked, never from users."""
    if '"' in value or "\\" in value or "\n" in value:
        raise ValueError(f"{value!r} cannot be written into ganesha's configuration")
    return f'"{value}"'
