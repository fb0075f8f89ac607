"""``cloudlet netns attach|detach|list``: plug Linux network namespaces into VPC subnets.

A namespace attached to an interface (ENI) behaves like an instance with that interface: the agent
of its host puts a veth into the namespace carrying the interface's MAC, addresses it (unless
``--dhcp``) with a default route through the subnet's router, and the interface's security groups,
the subnet's ACL and route table, Elastic IPs and the metadata service apply to it. Containers in a
VPC, test hosts, or a service that should sit in a private subnet behind a NAT gateway.

Like ``cloudlet account create`` it writes the cloud's state directly (SQLite lets it run while
``cloudlet up`` serves the same database); the running controller's agents pick the change up within
a fraction of a second.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from controller.errors import ServiceError


def add_commands(commands: argparse._SubParsersAction) -> None:
    """The ``netns`` command group of ``cloudlet``."""
    netns = commands.add_parser("netns", help="plug network namespaces into VPC subnets (namespace instances)")
    netns.add_argument("--data-dir", type=Path, dest="netns_data_dir", default=None)
    actions = netns.add_subparsers(dest="netns_command", required=True)
    attach = actions.add_parser("attach", help="attach a network interface (ENI) to a network namespace")
    attach.add_argument("eni_id", help="the interface, from `aws ec2 create-network-interface`")
    attach.add_argument("netns", help="an existing namespace (`ip netns add NAME`) on the host")
    attach.add_argument("--host", default=None, help="the agent's host id (default: the local agent)")
    attach.add_argument("--ifname", default="eth0", help="the interface's name inside the namespace")
    attach.add_argument("--dhcp", action="store_true",
                        help="leave addressing to a DHCP client in the namespace instead of static addresses")
    detach = actions.add_parser("detach", help="detach a network interface from its namespace")
    detach.add_argument("eni_id")
    actions.add_parser("list", help="list namespace attachments")


def run(args: argparse.Namespace, data_dir: Path) -> int:
    from controller.config import Config
    from controller.ec2.vpc import eni_records
    from controller.ec2.vpc import state as ec2_state
    from controller.hosts import state as hosts_state
    from controller.state import Database

    config = Config.load(data_dir)
    if not config.has_state():
        print(f"cloudlet: no cloud in {data_dir}; run `cloudlet up` once first", file=sys.stderr)
        return 1
    db = Database(config.state_location)
    try:
        if args.netns_command == "list":
            with db.read() as conn:
                for item in eni_records.namespace_attachments(conn):
                    print(f"{item['eni_id']}\t{item['host_id']}\t{item['netns']}\t{item['ifname']}\t"
                          f"{','.join(item['ipv4'])}\t{item['addressing']}")
            return 0
        if args.netns_command == "detach":
            with ec2_state.write(db) as conn:
                eni_records.detach_namespace(conn, args.eni_id)
            print(f"{args.eni_id} detached")
            return 0
        host_id = args.host or _local_host_id(config.data_dir)
        host = hosts_state.get_host(db, host_id) if host_id else None
        if host is None:
            print("cloudlet: no such agent host; start `cloudlet up` (with its agent) or pass --host",
                  file=sys.stderr)
            return 1
        if not args.host and not Path("/run/netns", args.netns).exists():
            print(f"cloudlet: namespace {args.netns} does not exist here (create it with `ip netns add "
                  f"{args.netns}`)", file=sys.stderr)
            return 1
        with ec2_state.write(db) as conn:
            attachment = eni_records.attach_namespace(conn, args.eni_id, host.host_id, host.zone, args.netns,
                                                     ifname=args.ifname,
                                                     addressing="dhcp" if args.dhcp else "static")
        print(f"{args.eni_id} attached to namespace {args.netns} on {host.host_id} ({attachment})")
        return 0
    except ServiceError as exc:
        print(f"cloudlet: {exc.code}: {exc}", file=sys.stderr)
        return 1
    finally:
        db.close()


def _local_host_id(data_dir: Path) -> str | None:
    """The host id of the agent ``cloudlet up`` runs (it keeps it in DATA_DIR/agent/host-id)."""
    path = data_dir / "agent" / "host-id"
    return path.read_text().strip() if path.exists() else None
