"""The agent process: register this host with the controller, then keep it converged to its desired state.

Run by ``cloudlet up`` for the local host, or on its own on other hosts::

    cloudlet-agent --controller http://10.0.0.1:8773 --token-file agent.token --zone home-1b \\
        --underlay-ip 10.0.0.2

It needs root for the VPC dataplane (network namespaces, veths, nftables); without root it says so,
reports no ``vpc-dataplane`` capability and runs the other reconcilers only. Every namespace it makes
starts with ``--name-prefix`` (``cl-``), so leftovers are found by name, and ``cloudlet-agent
--teardown`` removes them all (with their dnsmasq processes). SIGTERM stops the agent and leaves the
dataplane in place: traffic keeps flowing while it restarts.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import socket
import sys
import threading
import uuid
from pathlib import Path

from agent.batch import job_network
from agent.batch import reconciler as batch
from agent.client import ControllerClient
from agent.compute import migration
from agent.compute import service as compute
from agent.contract.hosts import (
    CAPABILITY_FUNCTIONS,
    CAPABILITY_GATEWAY,
    CAPABILITY_METADATA,
    CAPABILITY_NAMESPACE_INSTANCES,
    CAPABILITY_PROBES,
    CAPABILITY_VPC_DATAPLANE,
    HostRegistration,
)
from agent.contract.network import Underlay
from agent.contract.version import AGENT_VERSION
from agent.functions import server as functions
from agent.loadbalancing import reconciler as loadbalancers
from agent.network import uplink
from agent.network.api_relay import ApiRelay, fetch_tls
from agent.network.dataplane import DEFAULT_RUN_DIR
from agent.network.tunnel import TunnelServer
from agent.nfs import reconciler as efs
from agent.service.loop import HEARTBEAT_INTERVAL, AgentService
from agent.service.metadata import ControllerMetadata
from agent.service.namespaces import NamespaceReconciler
from agent.service.network import NetworkReconciler, claim_prefix, dataplane_unavailable, teardown
from agent.service.probes import ProbeReconciler
from agent.service.reconcilers import AgentContext, ReconcilerRegistry

log = logging.getLogger("cloudlet.agent")

DEFAULT_NAME_PREFIX = "cl-"


def host_id(state_dir: Path) -> str:
    """A stable id for this host, kept in the agent's state dir."""
    path = state_dir / "host-id"
    if not path.exists():
        path.write_text(f"h-{uuid.uuid4().hex[:17]}\n")
    return path.read_text().strip()


def describe_host(state_dir: Path, zone: str, capabilities: list[str] | None = None, hypervisor: str = "none",
                  underlay_ip: str | None = None, functions_url: str | None = None,
                  tunnel_url: str | None = None) -> HostRegistration:
    """What this machine offers, read from the kernel."""
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    disk = shutil.disk_usage(state_dir)
    return HostRegistration(
        host_id=host_id(state_dir), hostname=socket.gethostname(), zone=zone, vcpus=os.cpu_count() or 1,
        memory_mib=pages // 2**20, disk_gib=disk.total // 2**30, hypervisor=hypervisor, agent_version=AGENT_VERSION,
        capabilities=sorted(capabilities or []), underlay_ip=underlay_ip,
        functions_url=functions_url, tunnel_url=tunnel_url)


def free_memory_mib() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) // 1024
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="cloudlet-agent")
    parser.add_argument("--controller", help="controller endpoint URL")
    parser.add_argument("--token-file", type=Path)
    parser.add_argument("--zone", help="the availability zone this host belongs to")
    parser.add_argument("--state-dir", type=Path, default=Path("/var/lib/cloudlet/agent"))
    parser.add_argument("--run-dir", default=DEFAULT_RUN_DIR,
                        help=f"where dnsmasq files live (default {DEFAULT_RUN_DIR}; dnsmasq drops its privileges, "
                             "so every directory on the way must be world-traversable)")
    parser.add_argument("--name-prefix", default=os.environ.get("CLOUDLET_AGENT_NAME_PREFIX", DEFAULT_NAME_PREFIX),
                        help="prefix of every namespace the agent makes (default cl-, or "
                             "$CLOUDLET_AGENT_NAME_PREFIX)")
    parser.add_argument("--underlay-ip", default=os.environ.get("CLOUDLET_AGENT_UNDERLAY_IP"),
                        help="this host's VXLAN underlay address, for VPC subnets spanning hosts "
                             "(or $CLOUDLET_AGENT_UNDERLAY_IP)")
    parser.add_argument("--underlay-netns", default=os.environ.get("CLOUDLET_AGENT_UNDERLAY_NETNS"),
                        help="the namespace holding the underlay address, for lab hosts "
                             "(or $CLOUDLET_AGENT_UNDERLAY_NETNS)")
    parser.add_argument("--libvirt-uri", default=os.environ.get("CLOUDLET_AGENT_LIBVIRT_URI", "qemu:///system"),
                        help="the libvirtd this agent runs guests on (default qemu:///system, or "
                             "$CLOUDLET_AGENT_LIBVIRT_URI)")
    parser.add_argument("--migration-uri", default=os.environ.get("CLOUDLET_AGENT_MIGRATION_URI"),
                        help="how other hosts' libvirtds reach this one to live-migrate guests here, e.g. "
                             "qemu+tls://HOST/system (or $CLOUDLET_AGENT_MIGRATION_URI); without it the host "
                             "takes no live migrations")
    parser.add_argument("--migration-address", default=os.environ.get("CLOUDLET_AGENT_MIGRATION_ADDRESS"),
                        help="the address incoming migration streams reach this host's QEMU on (default: the "
                             "underlay address, or $CLOUDLET_AGENT_MIGRATION_ADDRESS)")
    parser.add_argument("--gateway", action="store_true", default=bool(os.environ.get("CLOUDLET_AGENT_GATEWAY")),
                        help="designate this host a gateway host: the controller runs NAT gateways (and translates "
                             "their Elastic IPs) on gateway hosts only, and the other hosts reach them over VXLAN "
                             "(or $CLOUDLET_AGENT_GATEWAY=1); with none designated any host of the zone may")
    parser.add_argument("--heartbeat-interval", type=float, default=HEARTBEAT_INTERVAL,
                        help=f"seconds between heartbeats (default {HEARTBEAT_INTERVAL:.0f}); a few of them must "
                             "fit in the controller's host_heartbeat_timeout_seconds")
    parser.add_argument("--metadata-port", type=int, default=80, help=argparse.SUPPRESS)
    parser.add_argument("--functions-listen", default=os.environ.get("CLOUDLET_AGENT_FUNCTIONS_LISTEN", "127.0.0.1:0"),
                        help="HOST:PORT where the controller reaches this host's Lambda runner (an address the "
                             "controller can reach on a multi-host cloud), or 'off' to run no functions here")
    parser.add_argument("--tunnel-listen", default=os.environ.get("CLOUDLET_AGENT_TUNNEL_LISTEN", "127.0.0.1:0"),
                        help="HOST:PORT where the controller opens EC2 Instance Connect Endpoint tunnels through "
                             "this host (an address the controller can reach on a multi-host cloud), or 'off'")
    parser.add_argument("--uplink", choices=uplink.MODES, default=os.environ.get("CLOUDLET_AGENT_UPLINK", "lab"),
                        help="where VPC traffic to the Internet goes: lab (a sealed namespace, the default), nat "
                             "(the host's LAN: EIPs answered by proxy ARP, the rest masqueraded) or bridge (a port "
                             "of --uplink-bridge); README 'Choosing an uplink' lists what each changes on the host")
    parser.add_argument("--uplink-interface", default=None,
                        help="nat: the LAN interface (default: the interface of the host's default route)")
    parser.add_argument("--uplink-bridge", default=None, help="bridge: the host's Linux bridge, e.g. br0")
    parser.add_argument("--uplink-gateway", default=None,
                        help="bridge: the LAN's gateway (default: the host's default gateway)")
    parser.add_argument("--dns-upstream", action="append", default=None, metavar="IP",
                        help="a resolver VPC DNS forwards to in nat/bridge mode (repeatable; default: the "
                             "non-loopback nameservers of /etc/resolv.conf)")
    parser.add_argument("--uplink-host-netns", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--teardown", action="store_true",
                        help="remove every dataplane object of this host (namespaces of the prefix, and the nat/bridge "
                             "uplink's veth, routes, proxy entries and nft table on the host) and exit")
    args = parser.parse_args(argv)
    if not args.teardown and not (args.controller and args.token_file and args.zone):
        parser.error("--controller, --token-file and --zone are required (except with --teardown)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=os.environ.get("CLOUDLET_LOG", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_dir = args.run_dir
    if args.teardown:
        reason = dataplane_unavailable()
        lock = claim_prefix(args.name_prefix) if reason is None else reason
        if isinstance(lock, str):
            print(f"cloudlet-agent: cannot tear down: {lock}", file=sys.stderr)
            return 1
        removed = efs.teardown(args.state_dir) + loadbalancers.teardown(args.state_dir) + teardown(run_dir,
                                                                                                     args.name_prefix)
        removed += job_network.teardown(args.name_prefix)
        Path(lock.name).unlink(missing_ok=True)  # nothing of this prefix is left, not even its lock
        print(f"removed {len(removed)} NFS servers and namespaces: {' '.join(removed)}" if removed
              else "nothing to remove")
        return 0
    args.state_dir.mkdir(parents=True, exist_ok=True)
    client = ControllerClient(args.controller, args.token_file.read_text().strip())
    reason = dataplane_unavailable()
    if reason is None:
        lock = claim_prefix(args.name_prefix)  # held until the process ends
        reason = lock if isinstance(lock, str) else None
    context = AgentContext(host_id=host_id(args.state_dir), zone=args.zone, state_dir=args.state_dir, client=client,
                           dataplane=reason is None, name_prefix=args.name_prefix, libvirt_uri=args.libvirt_uri)
    registry = ReconcilerRegistry()
    tunnels = None
    if reason is None and args.tunnel_listen != "off":
        tunnel_host, _, tunnel_port = args.tunnel_listen.rpartition(":")
        tunnels = TunnelServer((tunnel_host or "127.0.0.1", int(tunnel_port or 0)), client.token,
                               args.name_prefix)
    if reason is None:
        underlay = Underlay(args.underlay_ip, args.underlay_netns) if args.underlay_ip else None
        provider = ControllerMetadata(lambda eni_id: client.metadata(context.host_id, eni_id))
        relay = ApiRelay(args.controller, client.token, fetch_tls(client))  # the Cloudlet API inside VPCs
        host_uplink = uplink.from_flags(args.uplink, args.uplink_interface, args.uplink_bridge, args.uplink_gateway,
                                        args.uplink_host_netns, args.dns_upstream)
        registry.add("network", NetworkReconciler(run_dir, args.name_prefix, provider, underlay, args.metadata_port,
                                                  relay=relay, uplink=host_uplink),
                     capabilities=[CAPABILITY_VPC_DATAPLANE, CAPABILITY_METADATA]
                     + ([CAPABILITY_GATEWAY] if args.gateway else []))
        registry.add("namespaces", NamespaceReconciler(), capabilities=[CAPABILITY_NAMESPACE_INSTANCES])
        registry.add("probes", ProbeReconciler(client, context.host_id, args.name_prefix),
                     capabilities=[CAPABILITY_PROBES])
    else:
        log.warning("VPC dataplane disabled on this host: %s", reason)
    try:
        compute.register(registry, context)
    except Exception:  # a host without a working hypervisor still carries VPC traffic
        log.exception("compute cannot start on this host; running without it")
    efs.register(registry, context)
    loadbalancers.register(registry, context)
    try:
        batch.register(registry, context)
    except Exception:  # a host whose podman is broken still runs everything else
        log.exception("Batch jobs cannot run on this host; running without them")
    runner = _start_functions(args, client)
    capabilities = registry.capabilities() + ([CAPABILITY_FUNCTIONS] if runner is not None else [])
    registration = describe_host(args.state_dir, args.zone, capabilities, registry.hypervisor() or "none",
                                 args.underlay_ip, runner.url if runner is not None else None,
                                 tunnels.url if tunnels is not None else None)
    if "instances" in registry.names() and args.migration_uri:
        registration.migration = migration.endpoint(compute.compute_dir(args.state_dir), args.migration_uri,
                                                    args.migration_address or args.underlay_ip)
    service = AgentService(client, registration, registry, args.state_dir, free_memory=free_memory_mib,
                           heartbeat_interval=args.heartbeat_interval)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        # Set from a thread of its own: the handler runs in the main thread, which may hold the event's lock
        # inside stop.wait() at that moment, and setting it there would wait for itself forever.
        signal.signal(signum, lambda *_: threading.Thread(target=stop.set, name="stop").start())
    try:
        service.run(stop)
    finally:
        if runner is not None:
            runner.close()
        if tunnels is not None:
            tunnels.close()
    return 0


def _start_functions(args: argparse.Namespace, client: ControllerClient) -> functions.FunctionServer | None:
    """This host's Lambda runner, or None (said in the log) when it cannot or should not run functions."""
    if args.functions_listen == "off":
        return None
    reason = functions.unavailable()
    if reason is not None:
        log.warning("Lambda functions do not run on this host: %s", reason)
        return None
    host, _, port = args.functions_listen.rpartition(":")
    return functions.start(args.state_dir, client.token, (host or "127.0.0.1", int(port or 0)), client.download_code)


if __name__ == "__main__":
    sys.exit(main())
