"""The ``cloudlet`` command: ``cloudlet up`` runs a whole single-node cloud in the foreground."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from controller.config import DEFAULT_DATA_DIR, Config
from controller.process_exit import exit_without_teardown
from controller.server import HttpServer
from controller.workers import paths as worker_paths

#: The local agent beats this many times within the heartbeat timeout: two lost or late beats (a busy host)
#: do not yet mark it down.
HEARTBEATS_PER_TIMEOUT = 3

log = logging.getLogger("cloudlet")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cloudlet", description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("CLOUDLET_DATA_DIR", DEFAULT_DATA_DIR)))
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="run the controller and a local agent in the foreground")
    up.add_argument("--listen", default=None, help="HOST:PORT to serve the AWS API on (default 127.0.0.1:8773)")
    up.add_argument("--no-agent", action="store_true", help="run the controller only")
    up.add_argument("--https-listen", default=None, metavar="HOST:PORT",
                    help="also serve the API over HTTPS there, with a certificate from the cloud's CA (kept in "
                         "cloudlet.json; the AWS profile then uses it, with the CA as its ca_bundle)")
    up.add_argument("--workers", type=int, default=None,
                    help="processes serving the API (default: one per core; 1: cloudlet up alone)")
    up.add_argument("--data-dir", type=Path, dest="up_data_dir", default=None)
    up.add_argument("--database-url", default=None, metavar="URL",
                    help="keep the state in PostgreSQL (postgresql+psycopg://user:pass@host/db) rather than the data "
                         "dir's SQLite file; recorded in cloudlet.json")
    up.add_argument("--uplink", choices=("lab", "nat", "bridge"), default=None,
                    help="where VPC traffic to the Internet goes (recorded in DATA_DIR/cloudlet.json; default lab): "
                         "README 'Choosing an uplink'")
    up.add_argument("--eip-pool", default=None, help="nat/bridge: LAN addresses for Elastic IPs, ranges A-B or CIDRs, "
                    "comma-separated (the first is the uplink's own), e.g. 192.168.1.200-192.168.1.220")
    up.add_argument("--uplink-interface", default=None, help="nat: the LAN interface (default: the default route's)")
    up.add_argument("--uplink-bridge", default=None, help="bridge: the host's Linux bridge, e.g. br0")
    up.add_argument("--uplink-gateway", default=None, help="bridge: the LAN's gateway (default: the host's)")
    account = commands.add_parser("account", help="manage the cloud's accounts")
    account_commands = account.add_subparsers(dest="account_command", required=True)
    create = account_commands.add_parser("create", help="create a member account and print its root access key")
    create.add_argument("name")
    create.add_argument("--email", default=None, help="the account's email (default NAME@cloudlet.local)")
    create.add_argument("--data-dir", type=Path, dest="account_data_dir", default=None)
    root_password = account_commands.add_parser(
        "root-password", help="set the root user's console password (read from stdin or a prompt)")
    root_password.add_argument("--account", default=None, help="the account's id (default: the management account)")
    root_password.add_argument("--generate", action="store_true", help="make a strong password and print it once")
    root_password.add_argument("--data-dir", type=Path, dest="account_data_dir", default=None)
    from controller.hosts.cli import add_commands as add_netns_commands
    from controller.hosts.host_cli import add_commands as add_host_commands
    from controller.ssh_command import add_commands as add_ssh_command

    add_netns_commands(commands)
    add_host_commands(commands)
    add_ssh_command(commands)
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("CLOUDLET_LOG", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    data_dir = (getattr(args, "up_data_dir", None) or getattr(args, "account_data_dir", None)
                or getattr(args, "netns_data_dir", None) or getattr(args, "host_data_dir", None)
                or args.data_dir).expanduser().resolve()
    if args.command == "up":
        settings = {"uplink": args.uplink, "eip_pool": args.eip_pool, "uplink_interface": args.uplink_interface,
                    "uplink_bridge": args.uplink_bridge, "uplink_gateway": args.uplink_gateway,
                    "https_listen": args.https_listen, "database_url": args.database_url}
        try:
            record_settings(data_dir, {key: value for key, value in settings.items() if value is not None})
        except ValueError as exc:
            print(f"cloudlet up: {exc}", file=sys.stderr)
            return 2
        exit_without_teardown(run_up(data_dir, args.listen, start_agent=not args.no_agent, workers=args.workers))
    if args.command == "account" and args.account_command == "root-password":
        from controller.auth.cli import root_password_command

        return root_password_command(data_dir, args.account, args.generate)
    if args.command == "account":
        from controller.organizations.cli import create_account_command

        return create_account_command(data_dir, args.name, args.email)
    if args.command in ("ssh", "eice-proxy"):
        from controller.ec2.instances.connect import dispatch as ssh_command

        return ssh_command(args, data_dir)
    if args.command == "netns":
        from controller.hosts.cli import run as netns_command

        return netns_command(args, data_dir)
    if args.command == "host":
        from controller.hosts.host_cli import run as host_command

        return host_command(args, data_dir)
    return 2


def record_settings(data_dir: Path, settings: dict[str, str]) -> None:
    """Merge ``settings`` into DATA_DIR/cloudlet.json (other keys kept), once the result is a valid config:
    the uplink is the user's choice for this host and stays chosen on the next ``cloudlet up``."""
    if not settings:
        return
    config_file = data_dir / "cloudlet.json"
    values = json.loads(config_file.read_text()) if config_file.exists() else {}
    values.update(settings)
    Config.load(data_dir, **values)  # refuses a bad combination before anything is written
    if values.get("eip_pool"):
        from agent.contract import cidr

        cidr.pool_parts(values["eip_pool"])  # CidrError (a ValueError) names the malformed part
    data_dir.mkdir(parents=True, exist_ok=True)
    config_file.write_text(json.dumps(values, indent=2, sort_keys=True) + "\n")


def run_up(data_dir: Path, listen: str | None, *, start_agent: bool = True, workers: int | None = None) -> int:
    """Serve until interrupted; prints ``ready <endpoint>`` once requests are accepted."""
    from controller.bootstrap import ensure_management_account, write_profile
    from controller.cloud import Cloud
    from controller.wsgi import create_app

    host, port = _parse_listen(listen)
    config = Config.load(data_dir, host=host, port=port, workers=workers)
    processes = config.workers or os.cpu_count() or 1
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        # Set from a thread of its own: the handler runs in the main thread, which may hold the event's lock
        # inside stop.wait() at that moment, and setting it there would wait for itself forever.
        signal.signal(signum, lambda *_: threading.Thread(target=stop.set, name="stop").start())
    cloud = Cloud(config)
    server: HttpServer | None = None
    https: HttpServer | None = None
    agent: subprocess.Popen | None = None
    tunnels = data_channels = api_workers = None
    try:
        if processes > 1 or cloud.db.postgres:  # other controllers may share a PostgreSQL store
            cloud.db.join_bus(worker_paths.bus(data_dir))
        ensure_management_account(cloud)
        cloud.start()
        app = create_app(cloud)
        server = HttpServer(app, config.host, config.port, config.threads)
        server.start()
        asked_port = config.port  # 0: any free port, and the tunnel listener's too
        config.port = server.port
        https_url = None
        if config.https_listen:
            https, https_url = _start_https(cloud, app)
        profile = write_profile(cloud, https_url)
        tunnels = _start_tunnels(cloud, asked_port)
        data_channels = _start_data_channels(cloud, asked_port)
        if processes > 1:
            api_workers = _start_workers(cloud, app, server, processes - 1)
        agent = _start_agent(cloud) if start_agent else None
        print(f"cloudlet ready: endpoint {config.endpoint_url} region {config.region} account {profile.account_id}",
              flush=True)
        print(f"  export AWS_CONFIG_FILE={profile.config_file} AWS_SHARED_CREDENTIALS_FILE="
              f"{profile.credentials_file} AWS_PROFILE=cloudlet", flush=True)
        if https_url:
            print(f"  https endpoint: {https_url} (CA: {config.data_dir / 'api-ca.pem'})", flush=True)
        print(f"  web console: {config.endpoint_url}/console (root: set a password with "
              "`cloudlet account root-password`)", flush=True)
        print(f"  instance connect tunnels: {tunnels.url}", flush=True)
        print(f"  session manager data channels: {cloud.session_channels.url}", flush=True)
        print(f"  API processes: {processes}", flush=True)
        # Polled: the kernel may deliver the signal to another thread, and then its handler waits for the main
        # thread to wake, which an untimed wait never does (cloudlet up then ignored the signal, its agent left).
        while not stop.wait(0.5):
            pass
        log.info("stopping")
    finally:
        # Also on a failed start: the server's worker threads would keep the process alive.
        if agent is not None:
            _stop_agent(agent)
        cloud.db.end_waits()
        if api_workers is not None:
            api_workers.stop()
        for listening in (server, https):
            if listening is not None:
                listening.stop()
        for listener in (tunnels, data_channels):
            if listener is not None:
                listener.close()
        cloud.close()
    return 0


def _start_https(cloud: Any, app: Any) -> tuple[HttpServer, str]:
    """The HTTPS listener (``https_listen``) in this process, with a certificate from the cloud's CA for its
    address and this machine's names; its URL."""
    from controller.hosts import api_tls

    config = cloud.config
    host, port = _parse_listen(config.https_listen)
    wildcard = host in ("0.0.0.0", "::")
    names = sorted({"localhost", "127.0.0.1", socket.gethostname(), *(() if wildcard else (host,))})
    api_tls.endpoint_material(config.data_dir, names)
    server = HttpServer(app, host, port, config.threads, tls=(config.data_dir / api_tls.ENDPOINT_CERT,
                                                              config.data_dir / api_tls.ENDPOINT_KEY))
    server.start()
    shown = socket.gethostname() if wildcard else host
    return server, f"https://{shown}:{server.port}"


class _ApiWorkers:
    """The API worker processes and the primary's Unix socket they relay to (controller/workers/)."""

    def __init__(self, supervisor: Any, relayed: HttpServer) -> None:
        self.supervisor = supervisor
        self.relayed = relayed

    def stop(self) -> None:
        self.supervisor.stop()
        self.relayed.stop()


def _start_workers(cloud: Any, app: Any, server: HttpServer, count: int) -> _ApiWorkers:
    """Start ``count`` API workers on ``server``'s socket, once the start hooks ran (they recover from a
    crash, which must not race a worker's requests)."""
    from controller.workers.supervisor import Supervisor, trusting_workers

    config = cloud.config
    socket_path = worker_paths.primary_socket(config.data_dir)
    socket_path.unlink(missing_ok=True)
    relayed = HttpServer(trusting_workers(app, cloud.agent_token), "", 0, config.threads,
                         unix_path=str(socket_path))
    relayed.start()
    settings = {"host": config.host, "port": config.port, "instance_connect_listen": config.instance_connect_listen,
                "session_manager_listen": config.session_manager_listen}
    supervisor = Supervisor(config.data_dir, server.listening_socket, count, settings)
    supervisor.start()
    return _ApiWorkers(supervisor, relayed)


def _listener_address(config: Config, listen: str, asked_port: int, offset: int) -> tuple[str | None, int | None]:
    """Where a websocket listener binds: ``listen`` (HOST:PORT, or "0" for any free port), by default the API's
    host at the API's port + ``offset``, or any free port when the API asked for any."""
    if not listen:
        return config.host, (config.port + offset if asked_port else 0)
    if listen == "0":
        return config.host, 0
    return _parse_listen(listen)


def _start_tunnels(cloud: Any, asked_port: int) -> Any:  # Cloud -> TunnelListener, imported lazily
    """The EC2 Instance Connect Endpoint websocket listener (``controller.ec2_instance_connect.tunnel``), which
    also carries the web console's browser shells."""
    from controller.console.shell import WEBSOCKET_PATH
    from controller.console.shell_server import ConsoleShells
    from controller.ec2_instance_connect.tunnel import TunnelListener

    config = cloud.config
    host, port = _listener_address(config, config.instance_connect_listen, asked_port, 1)
    listener = TunnelListener(cloud, host, port, config.data_dir)
    listener.mount(WEBSOCKET_PATH, ConsoleShells(listener))
    return listener


def _start_data_channels(cloud: Any, asked_port: int) -> Any:  # Cloud -> DataChannelListener, imported lazily
    """Session Manager's data-channel websocket listener (``controller.ssmmessages``)."""
    from controller.ssmmessages.listener import DataChannelListener

    config = cloud.config
    host, port = _listener_address(config, config.session_manager_listen, asked_port, 2)
    listener = DataChannelListener(cloud, host, port)
    # Where it listens, for the agents' relays (the network document's ``api``), as config.port is the API's.
    config.session_manager_listen = listener.address
    return listener


def _stop_agent(agent: subprocess.Popen) -> None:
    agent.terminate()
    try:
        agent.wait(timeout=10)
    except subprocess.TimeoutExpired:
        agent.kill()


def _start_agent(cloud) -> subprocess.Popen:
    """The local agent runs as its own process, talking to the controller over HTTP like any other."""
    return subprocess.Popen(agent_argv(cloud.config))


def agent_argv(config: Config) -> list[str]:
    """The local agent's command line, with this host's uplink choice and heartbeat pace from the config."""
    uplink = ["--uplink", config.uplink]
    for flag, value in (("--uplink-interface", config.uplink_interface), ("--uplink-bridge", config.uplink_bridge),
                        ("--uplink-gateway", config.uplink_gateway)):
        uplink += [flag, value] if value and config.uplink != "lab" else []
    return [sys.executable, "-m", "agent.main", "--controller", config.endpoint_url, "--token-file",
            str(config.data_dir / "agent.token"), "--zone", config.local_zone, "--state-dir",
            str(config.data_dir / "agent"), *uplink,
            "--heartbeat-interval", str(config.host_heartbeat_timeout_seconds / HEARTBEATS_PER_TIMEOUT)]


def _parse_listen(listen: str | None) -> tuple[str | None, int | None]:
    if not listen:
        return None, None
    host, _, port = listen.rpartition(":")
    return host or "127.0.0.1", int(port)


if __name__ == "__main__":
    sys.exit(main())
