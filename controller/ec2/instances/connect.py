"""``cloudlet ssh i-...``: a shell on an instance through its VPC, without a public address.

The idea of EC2 Instance Connect Endpoint: the operator's machine reaches the instance's private address
from inside the VPC. Here the VPC's router namespace on the instance's host is the inside
(``<agent name prefix><vpc id>``, made by the agent's dataplane), so the command runs
``ip netns exec <namespace> ssh -i <key> <user>@<private address>`` on that host. It reads the instance
from the cloud's state store (so it works for any account's instance: it is an operator's tool, like
``cloudlet account create``), and refuses with a clear message when the instance is elsewhere or not running.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from controller.ec2.instances import state as instance_state
from controller.ec2.vpc import state
from controller.state import Database

DEFAULT_NAME_PREFIX = "cl-"


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
    db_path = data_dir / "state.db"
    if not db_path.exists():
        print(f"cloudlet: no cloud in {data_dir}", file=sys.stderr)
        return 1
    db = Database(db_path)
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


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``cloudlet ssh`` on the ``cloudlet`` command."""
    ssh = commands.add_parser("ssh", help="open a shell on an instance through its VPC (no public address needed)")
    ssh.add_argument("instance_id")
    ssh.add_argument("remote_command", nargs=argparse.REMAINDER,
                     help="a command to run instead of a shell (options go before the instance id, as for ssh)")
    ssh.add_argument("-i", "--identity", default=None, help="the key pair's private key (default ~/.ssh/NAME.pem)")
    ssh.add_argument("-l", "--user", default="root", help="the user to log in as (default root; debian for the "
                                                           "Debian cloud image)")
    ssh.add_argument("--name-prefix", default=os.environ.get("CLOUDLET_AGENT_NAME_PREFIX", DEFAULT_NAME_PREFIX),
                     help="the agent's namespace prefix (default cl-)")
    ssh.add_argument("--agent-state-dir", default=None, help="the local agent's state dir (default DATA_DIR/agent)")
