"""The ``cloudlet`` command: ``cloudlet up`` runs a whole single-node cloud in the foreground."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from controller.config import DEFAULT_DATA_DIR, Config
from controller.server import HttpServer

log = logging.getLogger("cloudlet")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cloudlet", description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("CLOUDLET_DATA_DIR", DEFAULT_DATA_DIR)))
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="run the controller and a local agent in the foreground")
    up.add_argument("--listen", default=None, help="HOST:PORT to serve the AWS API on (default 127.0.0.1:8773)")
    up.add_argument("--no-agent", action="store_true", help="run the controller only")
    up.add_argument("--data-dir", type=Path, dest="up_data_dir", default=None)
    account = commands.add_parser("account", help="manage the cloud's accounts")
    account_commands = account.add_subparsers(dest="account_command", required=True)
    create = account_commands.add_parser("create", help="create a member account and print its root access key")
    create.add_argument("name")
    create.add_argument("--email", default=None, help="the account's email (default NAME@cloudlet.local)")
    create.add_argument("--data-dir", type=Path, dest="account_data_dir", default=None)
    from controller.ec2.instances.connect import add_commands as add_ssh_command
    from controller.hosts.cli import add_commands as add_netns_commands

    add_netns_commands(commands)
    add_ssh_command(commands)
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("CLOUDLET_LOG", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    data_dir = (getattr(args, "up_data_dir", None) or getattr(args, "account_data_dir", None)
                or getattr(args, "netns_data_dir", None) or args.data_dir).expanduser().resolve()
    if args.command == "up":
        return run_up(data_dir, args.listen, start_agent=not args.no_agent)
    if args.command == "account":
        from controller.organizations.cli import create_account_command

        return create_account_command(data_dir, args.name, args.email)
    if args.command == "ssh":
        from controller.ec2.instances.connect import run as ssh_command

        return ssh_command(args, data_dir)
    if args.command == "netns":
        from controller.hosts.cli import run as netns_command

        return netns_command(args, data_dir)
    return 2


def run_up(data_dir: Path, listen: str | None, *, start_agent: bool = True) -> int:
    """Serve until interrupted; prints ``ready <endpoint>`` once requests are accepted."""
    from controller.bootstrap import ensure_management_account, write_profile
    from controller.cloud import Cloud
    from controller.wsgi import create_app

    host, port = _parse_listen(listen)
    config = Config.load(data_dir, host=host, port=port)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    cloud = Cloud(config)
    server: HttpServer | None = None
    agent: subprocess.Popen | None = None
    try:
        ensure_management_account(cloud)
        cloud.start()
        server = HttpServer(create_app(cloud), config.host, config.port, config.threads)
        server.start()
        config.port = server.port
        profile = write_profile(cloud)
        agent = _start_agent(cloud) if start_agent else None
        print(f"cloudlet ready: endpoint {config.endpoint_url} region {config.region} account {profile.account_id}",
              flush=True)
        print(f"  export AWS_CONFIG_FILE={profile.config_file} AWS_SHARED_CREDENTIALS_FILE="
              f"{profile.credentials_file} AWS_PROFILE=cloudlet", flush=True)
        stop.wait()
        log.info("stopping")
    finally:
        # Also on a failed start: the server's worker threads would keep the process alive.
        if agent is not None:
            _stop_agent(agent)
        if server is not None:
            server.stop()
        cloud.close()
    return 0


def _stop_agent(agent: subprocess.Popen) -> None:
    agent.terminate()
    try:
        agent.wait(timeout=10)
    except subprocess.TimeoutExpired:
        agent.kill()


def _start_agent(cloud) -> subprocess.Popen:
    """The local agent runs as its own process, talking to the controller over HTTP like any other."""
    config = cloud.config
    token_file = config.data_dir / "agent.token"
    return subprocess.Popen(
        [sys.executable, "-m", "agent.main", "--controller", config.endpoint_url, "--token-file", str(token_file),
         "--zone", config.local_zone, "--state-dir", str(config.data_dir / "agent")])


def _parse_listen(listen: str | None) -> tuple[str | None, int | None]:
    if not listen:
        return None, None
    host, _, port = listen.rpartition(":")
    return host or "127.0.0.1", int(port)


if __name__ == "__main__":
    sys.exit(main())
