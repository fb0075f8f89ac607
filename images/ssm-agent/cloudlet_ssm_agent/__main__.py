"""The command line: ``register`` (hybrid activation) and ``run`` (the service). ``python3 -m
cloudlet_ssm_agent`` and the ``cloudlet-ssm-agent`` launcher both land in :func:`main`."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

from . import AGENT_NAME, log
from .identity import HybridIdentity, Identity, ImdsIdentity, NotManagedError, register, ssm_client
from .service import UNMANAGED_RETRY_SECONDS, Agent
from .wire import JsonClient, ServiceError, make_ssl_context

DEFAULT_STATE_DIR = "/var/lib/cloudlet-ssm-agent"
#: How long a SIGTERM waits for commands to die and sessions to say goodbye: stopping must stay quick.
STOP_GRACE_SECONDS = 0.8
DESCRIPTION = "Cloudlet's Systems Manager agent: Run Command and Session Manager for this machine."


def build_agent(args: argparse.Namespace, stop: threading.Event) -> Agent | None:
    """Finds who we are (hybrid registration, else IMDS), retrying every 30 s while we are unmanaged
    (``--once``: not at all, it returns None)."""
    state_dir = Path(args.state_dir)
    registration_path = state_dir / "registration.json"
    next_step = "giving up (--once)" if args.once else f"retrying in {UNMANAGED_RETRY_SECONDS} s"
    while not stop.is_set():
        try:
            if registration_path.exists():
                saved = json.loads(registration_path.read_text())
                region = args.region or saved["Region"]
                endpoint = args.endpoint or saved.get("Endpoint")
                ca_bundle = args.ca_bundle or saved.get("CaBundle") or os.environ.get("AWS_CA_BUNDLE")
                context = make_ssl_context(ca_bundle)
                identity: Identity = HybridIdentity(state_dir, ssm_client(endpoint, region, context),
                                                    saved["InstanceId"], region)
            else:
                try:
                    identity = ImdsIdentity()
                except OSError as error:
                    raise NotManagedError("no instance profile: this instance is not managed (no instance "
                                          f"metadata: {error}); register it with `{AGENT_NAME} register`"
                                          ) from error
                region, endpoint = args.region or identity.region, args.endpoint
                context = make_ssl_context(args.ca_bundle or os.environ.get("AWS_CA_BUNDLE"), identity.cloud_ca())
            identity.region = region
            identity.credentials()  # fail here, loudly, rather than on every call
            ssm = ssm_client(endpoint, region, context, identity.credentials)
            messages = JsonClient(endpoint or f"https://ec2messages.{region}.amazonaws.com", region,
                                  "ec2messages", "EC2WindowsMessageDeliveryService", context,
                                  identity.credentials)
            return Agent(identity, ssm, messages, endpoint, args.ping_seconds, stop)
        except NotManagedError as error:
            log(f"{error}; {next_step}")
        except (ServiceError, OSError, RuntimeError, ValueError, KeyError) as error:
            log(f"cannot get credentials: {error}; check the registration in {state_dir} (or register "
                f"again) and the endpoint; {next_step}")
        if args.once:
            return None
        stop.wait(UNMANAGED_RETRY_SECONDS)
    return None


def run_service(args: argparse.Namespace) -> int:
    """The service: work happens in a daemon thread while the main thread waits for it or for a signal."""
    stop = threading.Event()
    agents: list[Agent] = []
    succeeded: list[bool] = []

    def work() -> None:
        agent = build_agent(args, stop)
        if agent is None:
            return
        agents.append(agent)
        if not args.once:
            agent.run_forever()
            return
        try:
            agent.poll_once()
            succeeded.append(True)
        except (ServiceError, OSError, ValueError) as error:
            log(f"poll failed: {error}")
        agent.wait_for_commands(float("inf"))
        agent.wait_for_sessions(float("inf"))

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    previous = {number: signal.signal(number, on_signal) for number in (signal.SIGTERM, signal.SIGINT)}
    try:
        worker = threading.Thread(target=work, daemon=True, name="poller")
        worker.start()
        while worker.is_alive() and not stop.is_set():
            worker.join(0.1)  # a signal does not cut a join short: the step bounds how late a stop starts
        if stop.is_set():
            log("stopping: cancelling running commands and ending sessions")
            for agent in agents:
                agent.cancel_all()
                agent.end_sessions()
            deadline = time.monotonic() + STOP_GRACE_SECONDS
            for agent in agents:
                agent.wait_for_commands(max(0.0, deadline - time.monotonic()))
                agent.wait_for_sessions(max(0.0, deadline - time.monotonic()))
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    return 0 if succeeded or not args.once else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=AGENT_NAME, description=DESCRIPTION)
    commands = parser.add_subparsers(dest="action", required=True)
    register_parser = commands.add_parser("register", help="register this machine with a hybrid activation")
    register_parser.add_argument("--code", required=True)
    register_parser.add_argument("--id", required=True, dest="activation_id")
    register_parser.add_argument("--region", required=True)
    run_parser = commands.add_parser("run", help="the service loop")
    run_parser.add_argument("--region")
    run_parser.add_argument("--ping-seconds", type=float, default=60)
    run_parser.add_argument("--once", action="store_true", help="one ping and one poll, then exit")
    for sub in (register_parser, run_parser):
        sub.add_argument("--endpoint", help="one URL serving ssm, ec2messages and s3")
        sub.add_argument("--ca-bundle", help="PEM trust store for https (default: $AWS_CA_BUNDLE)")
        sub.add_argument("--state-dir", default=DEFAULT_STATE_DIR)
    args = parser.parse_args(argv)
    if args.action == "register":
        try:
            instance_id = register(args.code, args.activation_id, args.region, args.endpoint, args.ca_bundle,
                                   Path(args.state_dir))
        except (ServiceError, OSError, RuntimeError) as error:
            log(f"registration failed: {error}; check the activation code, id, region and endpoint")
            return 1
        print(instance_id)
        return 0
    return run_service(args)


if __name__ == "__main__":
    sys.exit(main())
