"""``cloudlet ssh i-...``: a shell on an instance through its VPC, without a public address.

The idea of EC2 Instance Connect Endpoint: the operator's machine reaches the instance's private address
from inside the VPC. Here the VPC's router namespace on the instance's host is the inside
(``<agent name prefix><vpc id>``, made by the agent's dataplane), so the command runs
``ip netns exec <namespace> ssh -i <key> <user>@<private address>`` on that host. It reads the instance
from the cloud's state store (so it works for any account's instance: it is an operator's tool, like
``cloudlet account create``), and refuses with a clear message when the instance is elsewhere or not running.

``cloudlet ssh --ssm i-...`` (or ``mi-...``) opens a Session Manager shell instead: StartSession with the caller's
credentials, then the data channel (:mod:`controller.ssmmessages.plugin`), as ``aws ssm start-session`` does.

``cloudlet ssh --eice i-...`` goes the AWS way instead, as a normal IAM principal with the caller's own
credentials (``--profile``, else the usual AWS environment): it makes a throwaway ed25519 key, pushes it
with ``SendSSHPublicKey``, finds the instance's VPC's EC2 Instance Connect Endpoint
(``DescribeInstanceConnectEndpoints``) and runs ssh with ``cloudlet eice-proxy`` as its ProxyCommand. The
proxy opens the tunnel websocket presigned with SigV4 exactly as AWS CLI v2's ``open-tunnel`` does
(``awscli/customizations/ec2instanceconnect/eicesigner.py``: ``wss://<DnsName>/openTunnel?…``, service
``ec2-instance-connect``, 60 s) and copies stdio to it and back. The listener's address is not the endpoint's
DNS name (which resolves nowhere here): it comes from ``--listener``, ``$CLOUDLET_INSTANCE_CONNECT_URL`` or
``DATA_DIR/instance-connect-url`` (written by ``cloudlet up``); the signed ``Host`` stays the DNS name.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from sqlalchemy import select

from controller.config import Config
from controller.ec2.instances import state as instance_state
from controller.ec2.vpc import state
from controller.state import Database

#: ``--eice``: how long a pushed key may take to reach the guest (its metadata answers are cached ~5 s).
KEY_WAIT_SECONDS = 20


@dataclass(frozen=True)
class Target:
    instance_id: str
    state: str
    host_id: str | None
    vpc_id: str
    private_ip: str | None
    key_name: str | None


def find_target(db: Database, instance_id: str) -> Target | None:
    instances, eni, addresses = instance_state.instances, state.network_interfaces, state.interface_addresses
    with db.read() as conn:
        row = conn.execute(select(instances).where(instances.c.instance_id == instance_id)).mappings().first()
        if row is None:
            return None
        private_ip = conn.execute(select(addresses.c.address).join(
            eni, eni.c.network_interface_id == addresses.c.network_interface_id).where(
            eni.c.instance_id == instance_id, eni.c.device_index == 0, addresses.c.is_primary,
            addresses.c.family == 4)).scalar()
    return Target(instance_id, row["state"], row["host_id"], row["vpc_id"], private_ip, row["key_name"])


def local_host_id(agent_state_dir: Path) -> str | None:
    path = agent_state_dir / "host-id"
    return path.read_text().strip() if path.is_file() else None


def default_identity(key_name: str | None) -> Path | None:
    """Where people keep the private key EC2 gave them: ``~/.ssh/<name>.pem``, ``./<name>.pem``, ``./<name>``."""
    if not key_name:
        return None
    for candidate in (Path.home() / ".ssh" / f"{key_name}.pem", Path(f"{key_name}.pem"), Path(key_name)):
        if candidate.is_file():
            return candidate
    return None


def ssh_argv(target: Target, namespace: str, identity: Path | None, user: str, known_hosts: Path,
             command: list[str]) -> list[str]:
    """The command line that opens the session (pure: tested without a VPC)."""
    argv = ["ip", "netns", "exec", namespace, "ssh", "-o", "StrictHostKeyChecking=accept-new",
            "-o", f"UserKnownHostsFile={known_hosts}"]
    if identity is not None:
        argv += ["-i", str(identity), "-o", "IdentitiesOnly=yes"]
    return [*argv, f"{user}@{target.private_ip}", *command]


def run(args: argparse.Namespace, data_dir: Path) -> int:
    """``cloudlet ssh``: check the instance can be reached from here, then become ssh."""
    config = Config.load(data_dir)
    if not config.has_state():
        print(f"cloudlet: no cloud in {data_dir}", file=sys.stderr)
        return 1
    db = Database(config.state_location)
    try:
        target = find_target(db, args.instance_id)
    finally:
        db.close()
    if target is None:
        print(f"cloudlet: no instance {args.instance_id}", file=sys.stderr)
        return 1
    if target.state != "running" or target.private_ip is None:
        print(f"cloudlet: {target.instance_id} is {target.state}; it must be running", file=sys.stderr)
        return 1
    agent_dir = Path(args.agent_state_dir) if args.agent_state_dir else data_dir / "agent"
    here = local_host_id(agent_dir)
    if target.host_id != here:
        print(f"cloudlet: {target.instance_id} runs on host {target.host_id}, not on this one ({here}); run "
              "cloudlet ssh on that host", file=sys.stderr)
        return 1
    namespace = f"{args.name_prefix}{target.vpc_id}"
    if not (Path("/run/netns") / namespace).exists():
        print(f"cloudlet: the VPC namespace {namespace} does not exist here (is the agent running, as root?)",
              file=sys.stderr)
        return 1
    identity = Path(args.identity) if args.identity else default_identity(target.key_name)
    if identity is None and target.key_name:
        print(f"cloudlet: no private key for key pair {target.key_name!r} in ~/.ssh/{target.key_name}.pem or "
              "the current directory; give it with -i", file=sys.stderr)
        return 1
    known_hosts = data_dir / "ssh_known_hosts"
    argv = ssh_argv(target, namespace, identity, args.user, known_hosts, args.remote_command)
    if shutil.which("ssh") is None:
        print("cloudlet: the ssh client is not installed (apt install openssh-client)", file=sys.stderr)
        return 1
    os.execvp(argv[0], argv)
    return 0  # not reached: execvp replaces the process


# --- through an EC2 Instance Connect Endpoint (--eice) --------------------------------------------------------


def presigned_tunnel_url(session: Any, dns_name: str, endpoint_id: str, private_ip: str, port: int = 22,
                         max_duration: int | None = None) -> str:
    """The ``wss://`` URL AWS CLI v2's ``open-tunnel`` opens, presigned the same way (``session``: botocore)."""
    from botocore.signers import RequestSigner

    model = session.get_service_model("ec2-instance-connect")
    signer = RequestSigner(model.service_id, session.get_config_variable("region"), model.signing_name,
                           model.signature_version, session.get_credentials(), session.get_component("event_emitter"))
    query = {"instanceConnectEndpointId": endpoint_id, "remotePort": port, "privateIpAddress": private_ip}
    if max_duration:
        query["maxTunnelDuration"] = max_duration
    request = {"url": f"wss://{dns_name}/openTunnel?{urlencode(query)}", "body": {}, "headers": {"host": dns_name},
               "method": "GET", "query_string": "", "url_path": "/", "context": {}}
    return signer.generate_presigned_url(request_dict=request, operation_name="openTunnel", expires_in=60)


def open_tunnel(listener: str, presigned: str, timeout: float = 10) -> Any:
    """A websocket to the tunnel listener at ``listener`` (``ws://host:port``) for ``presigned``'s request:
    its path, query and ``Host`` are the signed ones. Raises ``websockets``' ``InvalidStatus`` on refusal."""
    from websockets.sync.client import connect

    where, url = urlsplit(listener), urlsplit(presigned)
    sock = socket.create_connection((where.hostname, where.port), timeout=timeout)
    return connect(f"ws://{url.netloc}{url.path}?{url.query}", sock=sock, open_timeout=timeout, compression=None,
                   proxy=None, user_agent_header="cloudlet-eice", legacy=True)


def bridge_stdio(ws: Any) -> None:
    """Copy stdin to the websocket and the websocket to stdout until either ends (ssh's ProxyCommand)."""
    def upstream() -> None:
        try:
            while data := os.read(0, 65536):
                ws.send(data)
        except Exception:  # noqa: BLE001 (the tunnel closed)
            pass
        ws.close()

    threading.Thread(target=upstream, daemon=True).start()
    try:
        for message in ws:
            os.write(1, message if isinstance(message, bytes) else message.encode())
    except Exception:  # noqa: BLE001 (the tunnel closed)
        pass


def listener_url(args: argparse.Namespace, data_dir: Path) -> str | None:
    """Where the tunnel listener is: ``--listener``, ``$CLOUDLET_INSTANCE_CONNECT_URL`` or the data dir's note."""
    if args.listener:
        return args.listener
    if os.environ.get("CLOUDLET_INSTANCE_CONNECT_URL"):
        return os.environ["CLOUDLET_INSTANCE_CONNECT_URL"]
    note = data_dir / "instance-connect-url"
    return note.read_text().strip() if note.is_file() else None


def run_proxy(args: argparse.Namespace, data_dir: Path) -> int:
    """``cloudlet eice-proxy`` (hidden): ssh's ProxyCommand, stdio through one presigned tunnel."""
    import botocore.session
    from websockets.exceptions import InvalidStatus

    listener = listener_url(args, data_dir)
    if listener is None:
        print("cloudlet: no tunnel listener known (give --listener)", file=sys.stderr)
        return 1
    session = botocore.session.Session(profile=args.profile)
    url = presigned_tunnel_url(session, args.dns_name, args.endpoint_id, args.private_ip, args.port,
                               args.max_tunnel_duration)
    try:
        ws = open_tunnel(listener, url)
    except InvalidStatus as exc:
        print(f"cloudlet: the tunnel was refused: {exc.response.status_code} "
              f"{exc.response.body.decode(errors='replace').strip()}", file=sys.stderr)
        return 1
    bridge_stdio(ws)
    return 0


def run_eice(args: argparse.Namespace, data_dir: Path) -> int:
    """``cloudlet ssh --eice``: SendSSHPublicKey with a throwaway key, then ssh through the endpoint's tunnel."""
    import botocore.session
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    listener = listener_url(args, data_dir)
    if listener is None:
        print("cloudlet: no tunnel listener known (give --listener)", file=sys.stderr)
        return 1
    session = botocore.session.Session(profile=args.profile)
    ec2 = session.create_client("ec2")
    found = ec2.describe_instances(InstanceIds=[args.instance_id])["Reservations"][0]["Instances"][0]
    endpoints = ec2.describe_instance_connect_endpoints(Filters=[
        {"Name": "vpc-id", "Values": [found["VpcId"]]}, {"Name": "state", "Values": ["create-complete"]}])
    if not endpoints["InstanceConnectEndpoints"]:
        print(f"cloudlet: VPC {found['VpcId']} has no EC2 Instance Connect Endpoint", file=sys.stderr)
        return 1
    endpoint = endpoints["InstanceConnectEndpoints"][0]
    key = Ed25519PrivateKey.generate()
    workdir = Path(tempfile.mkdtemp(prefix="cloudlet-eice-"))
    identity = workdir / "id_ed25519"
    identity.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                           serialization.NoEncryption()))
    identity.chmod(0o600)
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    session.create_client("ec2-instance-connect").send_ssh_public_key(
        InstanceId=args.instance_id, InstanceOSUser=args.user, SSHPublicKey=public.decode())
    proxy = [sys.executable, "-m", "controller.cli", "--data-dir", str(data_dir), "eice-proxy", "--listener", listener,
             "--dns-name", endpoint["DnsName"], "--endpoint-id", endpoint["InstanceConnectEndpointId"],
             "--private-ip", found["PrivateIpAddress"], "--port", "22"] + (
        ["--profile", args.profile] if args.profile else [])
    options = ["-i", str(identity), "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no",
               "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ProxyCommand=" + " ".join(proxy)]
    login = f"{args.user}@{found['PrivateIpAddress']}"
    # The guest reads pushed keys from its metadata service, which may answer from a cache for a few
    # seconds: wait until the key logs in (a batch-mode probe) before handing the terminal to ssh.
    deadline = time.monotonic() + KEY_WAIT_SECONDS
    while subprocess.run(["ssh", *options, "-o", "BatchMode=yes", login, "true"], stdin=subprocess.DEVNULL,
                         capture_output=True).returncode == 255:
        if time.monotonic() > deadline:
            print(f"cloudlet: the pushed key did not log in to {args.instance_id} within {KEY_WAIT_SECONDS} s",
                  file=sys.stderr)
            return 1
        time.sleep(1)
    argv = ["ssh", *options, login, *args.remote_command]
    os.execvp(argv[0], argv)
    return 0  # not reached


def dispatch(args: argparse.Namespace, data_dir: Path) -> int:
    """``cloudlet ssh`` (root on the host, or ``--eice``) and ``cloudlet eice-proxy``."""
    if args.command == "eice-proxy":
        return run_proxy(args, data_dir)
    if args.ssm:
        return run_ssm(args)
    return run_eice(args, data_dir) if args.eice else run(args, data_dir)


def run_ssm(args: argparse.Namespace) -> int:
    """``cloudlet ssh --ssm``: a Session Manager shell as an IAM principal (StartSession, then the data channel)."""
    import botocore.session

    from controller.ssmmessages.plugin import run_shell

    ssm = botocore.session.Session(profile=args.profile).create_client("ssm")
    return run_shell(ssm.start_session(Target=args.instance_id))
