"""``cloudlet host add|list|drain|undrain|remove``: the operator's commands for the cloud's hosts.

``add`` joins a Linux host over SSH (``controller/hosts/join.py``): it checks the host, installs the
controller's code there when the host lacks it (``controller/hosts/agent_install.py``), gives it its own
agent credential (``controller/hosts/credentials.py``), starts its agent and waits until the agent has
registered. ``drain`` stops new placements on a host, live-migrates its running instances to other hosts of
its zone (``controller/hosts/drain.py``) and lists what still holds it; ``remove`` takes a
drained, empty host out: its agent is stopped over SSH (when it was joined that way) and its credential
revoked, so it can no longer report or relay.

Like ``cloudlet netns`` these write the cloud's state directly (SQLite lets them run beside ``cloudlet up``);
agents see a change on their next long-poll answer.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from controller.hosts import agent_install, agent_wheel, join
from controller.hosts.agent_install import InstallPlan
from controller.hosts.credentials import AgentCredentials
from controller.hosts.join import AgentSettings, JoinError, SshSession, SshTarget
from controller.state import Database, utcnow

if TYPE_CHECKING:
    from controller.config import Config

#: How long ``host add`` waits for the new agent's registration and first heartbeat.
REGISTER_TIMEOUT = 60.0


def add_commands(commands: argparse._SubParsersAction) -> None:
    host = commands.add_parser("host", help="join, list, drain and remove the cloud's hosts")
    host.add_argument("--data-dir", type=Path, dest="host_data_dir", default=None)
    actions = host.add_subparsers(dest="host_command", required=True)
    add = actions.add_parser("add", help="join a Linux host over SSH and start its agent")
    add.add_argument("target", help="ssh://user@host[:port]")
    add.add_argument("--az", required=True, help="the availability zone the host serves, e.g. home-1b")
    add.add_argument("--identity", type=Path, default=None, help="the SSH private key (default: ssh-agent, ~/.ssh)")
    add.add_argument("--controller-url", default=None,
                     help="the controller's URL as the host reaches it (default: the cloud's configured endpoint)")
    add.add_argument("--python", default=None,
                     help="a Python on the host that already has Cloudlet (then nothing is installed; default: "
                          "the --venv's, where Cloudlet is installed when the host lacks the controller's version)")
    add.add_argument("--venv", default=join.DEFAULT_VENV, help="the virtualenv on the host that Cloudlet is "
                                                               "installed into (created with python3 -m venv)")
    add.add_argument("--installer", choices=("auto", "ssh", "ansible"), default="auto",
                     help="how the code is installed: the ansible common role (ansible/install-code.yml) or the "
                          "same script over this SSH session; auto takes ansible when ansible-playbook is here")
    add.add_argument("--wheelhouse", type=Path, default=None,
                     help="a directory here with wheels of Cloudlet's dependencies, copied to the host and "
                          "installed with pip --no-index (a host that reaches no package index)")
    add.add_argument("--pip-index-url", default=None,
                     help="the package index the host's pip takes the dependencies from (default: its own "
                          "pip configuration, usually PyPI)")
    add.add_argument("--state-dir", default=join.DEFAULT_STATE_DIR, help="the agent's state dir on the host")
    add.add_argument("--name-prefix", default="cl-", help="the prefix of what the agent creates there")
    add.add_argument("--underlay-ip", default=None, help="the host's address for VXLAN between hosts "
                                                         "(default: the SSH target's, when it is an address)")
    actions.add_parser("list", help="the registered hosts and their state")
    for name, text in (("drain", "place nothing new on a host and live-migrate its running instances away"),
                       ("undrain", "let a drained host take new work again")):
        actions.add_parser(name, help=text).add_argument("host_id")
    remove = actions.add_parser("remove", help="stop a drained, empty host's agent and revoke its credential")
    remove.add_argument("host_id")
    remove.add_argument("--identity", type=Path, default=None, help="the SSH private key it was joined with")


def run(args: argparse.Namespace, data_dir: Path) -> int:
    from controller.config import Config
    from controller.hosts import state as hosts_state  # also declares the hosts table

    config = Config.load(data_dir)
    if not config.has_state():
        print(f"cloudlet: no cloud in {data_dir}; run `cloudlet up` once first", file=sys.stderr)
        return 1
    db = Database(config.state_location)
    db.create_schema()  # a data dir the running controller made before per-host credentials existed
    credentials = AgentCredentials(db, (data_dir / "agent.token").read_text().strip())
    say: Callable[[str], None] = print
    logging.getLogger("paramiko").setLevel(logging.WARNING)  # its INFO lines are noise to an operator
    try:
        if args.host_command == "add":
            if args.az not in config.availability_zones:
                print(f"cloudlet host add: {args.az!r} is not one of the region's zones "
                      f"({', '.join(config.availability_zones)})", file=sys.stderr)
                return 2
            return add_host(args, data_dir, db, credentials, args.controller_url or config.endpoint_url(), say)
        if args.host_command == "list":
            hosts_state.use_heartbeat_timeout(Config.load(data_dir).host_heartbeat_timeout_seconds)
            return list_hosts(db, say)
        if args.host_command in ("drain", "undrain"):
            return drain(db, config, args.host_id, args.host_command == "drain", say)
        return remove(db, credentials, args.host_id, data_dir, args.identity, say)
    except JoinError as exc:
        print(f"cloudlet host {args.host_command}: {exc}", file=sys.stderr)
        return 1
    finally:
        db.close()


def add_host(args: argparse.Namespace, data_dir: Path, db: Database, credentials: AgentCredentials,
             controller_url: str, say: Callable[[str], None]) -> int:
    target = SshTarget.parse(args.target)
    if _is_loopback(_url_host(controller_url)) and not _is_loopback(target.host):
        raise JoinError(f"the controller is at {controller_url}, which {target.host} cannot reach: run "
                        "`cloudlet up --listen ADDRESS:PORT` on an address the host reaches, or pass "
                        "--controller-url")
    say(f"==> connecting to {target}")
    session = SshSession(target, data_dir / "ssh_known_hosts", args.identity)
    try:
        for note in session.notes:
            say(f"    {note}")
        say("==> checking the host")
        python = args.python or f"{args.venv}/bin/python"
        facts = join.parse_facts(session.run(join.PROBE_SCRIPT, {"CLOUDLET_PYTHON": python,
                                                                 "CLOUDLET_STATE_DIR": args.state_dir}))
        wheel = None if args.python else _wheel(data_dir, say)
        installing = wheel is not None and facts.get("python_dist") != _wheel_version(wheel)
        assessment = join.assess(facts, python, installing)
        say(f"    {facts.get('cpus')} vCPUs, {int(facts.get('mem_available_kib') or 0) // 1024} MiB free, "
            f"hypervisor {assessment.hypervisor}, {_installed(facts.get('python_dist'))} in {python}")
        for warning in assessment.warnings:
            say(f"    warning: {warning}")
        if assessment.problems:
            raise JoinError("the host cannot join yet:\n  - " + "\n  - ".join(assessment.problems))
        if wheel is not None and installing:
            plan = InstallPlan(wheel, args.venv, f"{args.state_dir}/install", args.wheelhouse, args.pip_index_url)
            _install(args, session, plan, data_dir / "ssh_known_hosts", say)
        host_id = assessment.host_id or f"h-{uuid.uuid4().hex[:17]}"
        address = target.host if _is_address(target.host) else None
        settings = AgentSettings(python=python, controller_url=controller_url, zone=args.az,
                                 state_dir=args.state_dir, name_prefix=args.name_prefix,
                                 underlay_ip=args.underlay_ip or address, listen_ip=address)
        say(f"==> issuing {host_id}'s agent credential and starting its agent")
        token = credentials.issue(host_id, settings.joined(target))
        since = utcnow()
        for step in join.start_agent(session, settings, assessment, host_id, token):
            say(f"    {step}")
        say(f"==> waiting for {host_id} to register (up to {REGISTER_TIMEOUT:.0f} s)")
        if not _wait_registered(db, host_id, since):
            log = session.run(f"tail -n 20 {settings.log_file} 2>/dev/null || true")
            raise JoinError(f"{host_id}'s agent did not register within {REGISTER_TIMEOUT:.0f} s; check that "
                            f"the host reaches {controller_url}. The agent's log ends:\n{log}")
    finally:
        session.close()
    say(f"{host_id} joined {args.az} ({assessment.hypervisor})")
    return 0


def _wheel(data_dir: Path, say: Callable[[str], None]) -> Path:
    """The controller's own wheel, built into the data dir's cache the first time each version is needed."""
    try:
        version = agent_wheel.wheel_version()
        wheel = data_dir / "agent-wheels" / agent_wheel.wheel_name(version)
        if not wheel.is_file():
            say(f"    building {wheel.name}")
        return agent_wheel.build(wheel.parent)
    except agent_wheel.BuildError as exc:
        raise JoinError(str(exc)) from None


def _installed(version: str | None) -> str:
    return "no cloudlet" if version in (None, "no") else f"cloudlet {version}"


def _wheel_version(wheel: Path) -> str:
    return wheel.name.split("-")[1]


def _install(args: argparse.Namespace, session: SshSession, plan: InstallPlan, known_hosts: Path,
             say: Callable[[str], None]) -> None:
    """Install the wheel on the host by the installer asked for (auto: ansible when it is here)."""
    if args.wheelhouse is not None and not plan.wheelhouse_files():
        raise JoinError(f"--wheelhouse {args.wheelhouse} holds no wheels: fill it with `pip wheel -w "
                        f"{args.wheelhouse} .` in a Cloudlet checkout")
    playbook = agent_install.ansible_playbook() if args.installer != "ssh" else None
    if args.installer == "ansible" and playbook is None:
        raise JoinError("--installer ansible, but ansible-playbook is not installed here (pip install ansible-core, "
                        "or use --installer ssh)")
    installer = "ansible" if playbook else "ssh"
    say(f"==> installing cloudlet {_wheel_version(plan.wheel)} into {plan.venv} ({installer})")
    if playbook:
        agent_install.install_with_ansible(playbook, session.target, plan, args.identity, known_hosts, say)
    else:
        agent_install.install_over_ssh(session, plan, say)


def _wait_registered(db: Database, host_id: str, since: object) -> bool:
    from controller.hosts.state import hosts

    deadline = time.monotonic() + REGISTER_TIMEOUT
    while time.monotonic() < deadline:
        with db.read() as conn:
            seen = conn.execute(select(hosts.c.last_heartbeat).where(hosts.c.host_id == host_id)).scalar()
        if seen is not None and seen >= since:
            return True
        time.sleep(0.5)
    return False


def list_hosts(db: Database, say: Callable[[str], None]) -> int:
    from controller.hosts.state import list_hosts as records

    say(f"{'HOST':<20} {'ZONE':<9} {'STATE':<9} {'VCPUS':>5} {'MEMORY':>9} {'HYPERVISOR':<10} HOSTNAME")
    for host in records(db):
        status = host.state if host.schedulable or host.state != "up" else "draining"
        say(f"{host.host_id:<20} {host.zone:<9} {status:<9} {host.vcpus:>5} {host.memory_mib:>6} MiB "
            f"{host.hypervisor:<10} {host.hostname}")
    return 0


def still_running(db: Database, host_id: str) -> list[str]:
    """What keeps a host from being removed: its instances that exist, and its Batch attempts."""
    from controller.batch.attempts import attempts
    from controller.ec2.instances.state import instances

    with db.read() as conn:
        held = [row.instance_id for row in conn.execute(
            select(instances.c.instance_id).where(instances.c.host_id == host_id,
                                                  instances.c.state != "terminated"))]
        held += [f"Batch job {row.job_id}" for row in conn.execute(
            select(attempts.c.job_id).where(attempts.c.host_id == host_id))]
    return held


def drain(db: Database, config: Config, host_id: str, draining: bool, say: Callable[[str], None]) -> int:
    """Stop placements on ``host_id``; when draining, move its running (live) and stopped (their disks)
    instances away (``controller/hosts/drain.py``) and say what still holds it."""
    from controller.hosts import drain as evacuation
    from controller.hosts.state import set_schedulable

    if not set_schedulable(db, host_id, not draining):
        raise JoinError(f"no host {host_id} is registered (`cloudlet host list` shows them)")
    if not draining:
        say(f"{host_id} takes new work again")
        return 0
    evacuation.evacuate(db, config, host_id, say)
    stopping = evacuation.stopping_here(db, host_id)
    if stopping:
        say(f"    still stopping, not moved: {', '.join(stopping)}; drain again once they are stopped")
    held = still_running(db, host_id)
    if held:
        say(f"{host_id} takes no new work; still there: {', '.join(held)}.\nMove or terminate the instances "
            "and let the jobs end, then run `cloudlet host remove`.")
        return 1
    say(f"{host_id} is drained: nothing runs there")
    return 0


def remove(db: Database, credentials: AgentCredentials, host_id: str, data_dir: Path, identity: Path | None,
           say: Callable[[str], None]) -> int:
    from controller.hosts.state import forget, get_host

    host = get_host(db, host_id)
    if host is None:
        raise JoinError(f"no host {host_id} is registered (`cloudlet host list` shows them)")
    if host.schedulable:
        raise JoinError(f"{host_id} is not drained: run `cloudlet host drain {host_id}` first")
    held = still_running(db, host_id)
    if held:
        raise JoinError(f"{host_id} still has {', '.join(held)}: stop or terminate them first")
    joined = credentials.joined_from(host_id)
    if joined is not None:
        say(f"==> stopping {host_id}'s agent over {joined['ssh_target']} and clearing what it built")
        session = SshSession(SshTarget.parse(joined["ssh_target"]), data_dir / "ssh_known_hosts", identity)
        try:
            systemd = session.run("[ -d /run/systemd/system ] && echo yes || echo no").strip() == "yes"
            session.run(join.stop_command(joined, systemd), timeout=120)
        finally:
            session.close()
    credentials.revoke(host_id)
    forget(db, host_id)
    say(f"{host_id} removed; its credential no longer works")
    return 0


def _url_host(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).hostname or ""


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _is_loopback(host: str) -> bool:
    return host == "localhost" or (_is_address(host) and ipaddress.ip_address(host).is_loopback)
