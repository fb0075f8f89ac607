"""The ``cloudlet ssh`` and ``cloudlet eice-proxy`` command lines (what they do: ``controller.ec2.instances.connect``).

Kept apart from that module so that ``cloudlet``'s argument parser does not import the EC2 service (seconds
of imports) for every other command.
"""

from __future__ import annotations

import argparse
import os

#: The agent's default namespace prefix (``agent.main``).
DEFAULT_NAME_PREFIX = "cl-"


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``cloudlet ssh`` (and its hidden ProxyCommand helper) on the ``cloudlet`` command."""
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
    ssh.add_argument("--eice", action="store_true",
                     help="go through the VPC's EC2 Instance Connect Endpoint as an IAM principal (SendSSHPublicKey "
                          "with a throwaway key, then OpenTunnel), not as root on the instance's host")
    ssh.add_argument("--ssm", action="store_true",
                     help="open a Session Manager shell as an IAM principal (the instance's or machine's agent "
                          "connects out: no key, no open port, i-... or mi-...)")
    ssh.add_argument("--profile", default=None, help="--eice/--ssm: the AWS profile to sign with (default: the "
                                                     "environment)")
    ssh.add_argument("--listener", default=None, help="--eice: the tunnel listener, ws://HOST:PORT (default: "
                                                      "$CLOUDLET_INSTANCE_CONNECT_URL or DATA_DIR/instance-connect-url)")
    proxy = commands.add_parser("eice-proxy")  # hidden helper: ssh's ProxyCommand for --eice
    for name in ("--dns-name", "--endpoint-id", "--private-ip"):
        proxy.add_argument(name, required=True)
    proxy.add_argument("--port", type=int, default=22)
    proxy.add_argument("--max-tunnel-duration", type=int, default=None)
    proxy.add_argument("--profile", default=None)
    proxy.add_argument("--listener", default=None)
