"""The tiny AMI's ECS container agent, its pure parts (``images/ecs-agent``): an image's layers unpacked with
OCI whiteouts honoured, the container's argv, environment and cgroup limits, ECS_CLUSTER's reading, and the
job role credentials endpoint's bookkeeping."""

from __future__ import annotations

import io
import sys
import tarfile
from datetime import UTC, datetime
from pathlib import Path

IMAGES = Path(__file__).resolve().parents[2] / "images"
for directory in (IMAGES / "ecs-agent", IMAGES / "ssm-agent"):  # beside their launchers, as on the AMI
    if str(directory) not in sys.path:
        sys.path.insert(0, str(directory))

from cloudlet_ecs_agent.agent import cluster_of  # noqa: E402
from cloudlet_ecs_agent.container import command_of, environment_of, limits  # noqa: E402
from cloudlet_ecs_agent.credentials import CredentialsEndpoint  # noqa: E402
from cloudlet_ecs_agent.rootfs import apply_layer  # noqa: E402


def layer(entries: dict[str, bytes | None]) -> tarfile.TarFile:
    """A layer of files (bytes) and directories (None)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as out:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                out.addfile(info)
            else:
                info.size = len(data)
                out.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return tarfile.open(fileobj=buffer)


def test_whiteouts_remove_what_lower_layers_put(tmp_path: Path) -> None:
    apply_layer(layer({"etc": None, "etc/keep": b"1", "etc/gone": b"2", "opt": None, "opt/old": b"3",
                       "../escape": b"never"}), tmp_path.resolve())
    apply_layer(layer({"etc/.wh.gone": b"", "opt/.wh..wh..opq": b"", "opt/new": b"4"}), tmp_path.resolve())
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == [
        "etc", "etc/keep", "opt", "opt/new"]
    assert not (tmp_path.parent / "escape").exists()


def test_a_layer_cannot_reach_outside_through_links(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret").write_text("instance's own")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as out:
        for name, kind, target in (("out", tarfile.SYMTYPE, str(outside)), ("leak", tarfile.LNKTYPE, "out/secret")):
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            out.addfile(info)
        for name in ("out/planted", "out/.wh.secret"):
            out.addfile(tarfile.TarInfo(name), io.BytesIO(b""))
    buffer.seek(0)
    with tarfile.open(fileobj=buffer) as planted:
        apply_layer(planted, root.resolve())
    assert (root / "out").is_symlink()  # the link itself is the image's, and harmless inside the chroot
    assert not (root / "leak").exists()
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]


def test_argv_environment_and_limits() -> None:
    config = {"Entrypoint": ["/init"], "Cmd": ["serve"], "Env": ["PATH=/bin", "A=image"]}
    assert command_of({"command": ["run", "x"]}, config) == ["/init", "run", "x"]
    assert command_of({}, config) == ["/init", "serve"]
    assert environment_of({"environment": {"A": "job", "B": "2"}}, config) == {"PATH": "/bin", "A": "job", "B": "2"}
    assert limits(0.5, 64) == {"memory.max": str(64 << 20), "memory.swap.max": "0", "cpu.max": "50000 100000"}


def test_cluster_is_the_last_ecs_cluster_line() -> None:
    assert cluster_of("ECS_CLUSTER=a\n# note\nECS_CLUSTER=arn:aws:ecs:r:1:cluster/b\n") == "arn:aws:ecs:r:1:cluster/b"
    assert cluster_of("ECS_LOGLEVEL=debug\n") is None


def test_the_credentials_endpoint_asks_for_missing_and_expiring_sessions() -> None:
    endpoint = CredentialsEndpoint()
    now = 1_800_000_000.0

    def session(path: str, seconds_left: float) -> dict[str, str]:
        expiration = datetime.fromtimestamp(now + seconds_left, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"credentialsUri": path, "accessKeyId": "ASIA1", "secretAccessKey": "s", "sessionToken": "t",
                "expiration": expiration, "roleArn": "arn:aws:iam::1:role/r"}

    paths = {"task/a": "/v2/credentials/a", "task/b": "/v2/credentials/b", "task/c": "/v2/credentials/c"}
    endpoint.store(session("/v2/credentials/a", 6 * 3600))
    endpoint.store(session("/v2/credentials/b", 60))  # expires within the refresh margin
    endpoint.store({"credentialsUri": "/v2/credentials/c"})  # the role can no longer be assumed: nothing kept
    assert endpoint.needed(paths, now) == ["task/b", "task/c"]
    assert endpoint.answer("/v2/credentials/a", wait=0) == {
        "AccessKeyId": "ASIA1", "SecretAccessKey": "s", "Token": "t", "Expiration": session("x", 6 * 3600)["expiration"],
        "RoleArn": "arn:aws:iam::1:role/r"}
    assert endpoint.answer("/v2/credentials/c", wait=0) is None
    endpoint.forget("/v2/credentials/a")
    assert endpoint.answer("/v2/credentials/a", wait=0) is None

