"""The ``network`` section: the VPC dataplane document applied with ``agent.network.dataplane``.

The controller's document is host-independent in two respects the agent fixes locally: the name
prefix of every namespace it makes (``--name-prefix``, so two agents or a test can share a machine)
and the host's own VXLAN underlay (``--underlay-ip``). The metadata service rides along: the dataplane
tells it after every apply which namespaces exist and which interface is which.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
from pathlib import Path
from typing import IO, Any

from agent.contract import codec
from agent.contract import network as model
from agent.network.api_relay import ApiRelay, internet_listeners
from agent.network.dataplane import ApplyReport, Dataplane
from agent.network.dns_forwarder import DnsForwarder
from agent.network.endpoints import EndpointNamespaces, relay_listeners
from agent.network.imds import MetadataService, Provider
from agent.network.uplink import HostUplink

log = logging.getLogger("cloudlet.agent.network")

#: What the dataplane runs besides pyroute2: nft for rulesets, nsenter for commands in namespaces,
#: dnsmasq for DHCP.
REQUIRED_TOOLS = ("nft", "nsenter", "dnsmasq")
#: Where agents lock their name prefix: two agents with one prefix on a machine would remove each other's
#: namespaces (each removes those of its prefix that its document does not name).
LOCK_DIR = Path("/run/cloudlet")


def dataplane_unavailable() -> str | None:
    """Why this process cannot run the VPC dataplane, or None when it can."""
    if os.geteuid() != 0:
        return ("the agent is not running as root (network namespaces, veths and nftables need it); "
                "run it as root to carry VPC traffic on this host")
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if missing:
        return f"missing tools: {', '.join(missing)} (install nftables, util-linux and dnsmasq)"
    return None


def claim_prefix(name_prefix: str, lock_dir: Path = LOCK_DIR) -> IO[str] | str:
    """Lock ``name_prefix`` for this process: the open lock file (keep it open while the dataplane runs;
    the kernel releases it when the process dies, even by SIGKILL), or why it is taken."""
    lock_dir.mkdir(parents=True, exist_ok=True)
    handle = open(lock_dir / f"agent-{name_prefix}.lock", "a+")  # noqa: SIM115 - held for the process's life
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "unknown"
        handle.close()
        return f"another agent (pid {owner}) manages the namespaces prefixed {name_prefix!r} on this machine"
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


class NetworkReconciler:
    """Applies the ``network`` section; a change is one ``apply``, the periodic repair a full one."""

    def __init__(self, run_dir: str, name_prefix: str, metadata_provider: Provider,
                 underlay: model.Underlay | None = None, metadata_port: int = 80,
                 relay: ApiRelay | None = None, uplink: HostUplink | None = None) -> None:
        self.name_prefix = name_prefix
        #: The Cloudlet API's relay (agent/network/api_relay.py), told its listeners after every apply.
        self.relay = relay
        self.underlay = underlay
        self.metadata = MetadataService(metadata_provider, port=metadata_port)
        #: The host's uplink choice (agent flags): nat/bridge legs are applied with the rest of the dataplane.
        self.uplink = uplink or HostUplink()
        self.dataplane = Dataplane(run_dir, metadata=self.metadata, uplink=self.uplink)
        #: Interface VPC endpoints' namespaces (agent/network/endpoints.py), where the relay listens for them.
        self.endpoints = EndpointNamespaces(run_dir)
        #: VPC DNS's way to the host's resolvers (nat/bridge only; in lab mode it listens nowhere).
        self.dns = DnsForwarder(self.uplink)
        self.last_report: ApplyReport | None = None
        self._forget = getattr(metadata_provider, "forget", None)

    def localize(self, section: dict[str, Any]) -> model.HostNetwork:
        """The controller's document with this host's name prefix and underlay."""
        doc = codec.from_json(model.HostNetwork, section)
        doc.name_prefix = self.name_prefix
        if self.underlay is not None:
            doc.underlay = self.underlay
        return doc

    def reconcile(self, desired: dict[str, Any]) -> None:
        self._apply(desired, full=False)

    def repair(self, desired: dict[str, Any]) -> None:
        self._apply(desired, full=True)

    @property
    def wants_retry(self) -> bool:
        """A port could not be plugged yet (its namespace or tap does not exist): try again soon."""
        return bool(self.last_report and self.last_report.pending) or bool(self.endpoints.waiting)

    def close(self) -> None:
        """Stop answering metadata and relaying the API; every namespace, link, rule and dnsmasq stays."""
        self.metadata.close()
        self.dns.close()
        if self.relay is not None:
            self.relay.close()

    def _apply(self, desired: dict[str, Any], full: bool) -> None:
        doc = self.localize(desired)
        self.endpoints.prepare(doc)
        self.last_report = self.dataplane.apply(doc, full=full)
        self.endpoints.configure(doc)
        self.dns.update(doc)
        if self.relay is not None:
            self.relay.data_channel_port = doc.api.data_channel_port if doc.api is not None else 0
            self.relay.update(internet_listeners(doc) + relay_listeners(doc))
        if self.last_report.pending:
            log.info("waiting for: %s", "; ".join(self.last_report.pending))
        if self._forget is not None:
            self._forget({eni.id for vpc in doc.vpcs for eni in vpc.enis})


def teardown(run_dir: str, name_prefix: str) -> list[str]:
    """Remove every dataplane object this host's agent made (namespaces of its prefix and their dnsmasq);
    veths into namespace instances go with them. Returns the namespaces removed."""
    return Dataplane(run_dir).teardown(name_prefix) + EndpointNamespaces(run_dir).teardown()
