"""A job attempt's network namespace: its ENI inside, as Fargate's awsvpc mode gives a task its own.

The attempt's section entry names its ENI (``controller.batch.job_enis``); the network section lists that ENI
as a ``service`` attachment on this host, so the dataplane plugs a veth carrying the ENI's MAC into the
namespace ``naming.service_netns(prefix, eni_id)`` (security groups, NACLs and anti-spoofing then hold as for
any ENI). That pass runs before the ``batch`` section's and so finds the namespace missing; rather than have the
attempt wait for the next pass, this module plugs the veth itself (``links.plug_veth``, the plan's own link,
once the ruleset guarding its port is loaded). It makes the namespace, configures the ENI's address and
default route on ``eth0``, and puts the container credentials address (169.254.170.2) on ``lo``, where
``agent.batch.credentials`` listens for jobs with a job role. The container joins it (``podman run --network ns:<path>``).

Namespaces are remembered by a marker file per ENI in the agent's state directory, so one left by an attempt
that ended while the agent was away is found and removed (``keep_only``), and only this agent's are touched.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pyroute2 import IPRoute

from agent.batch.credentials import CREDENTIALS_ADDRESS, CredentialsEndpoints, JobCredentials
from agent.contract.naming import service_port
from agent.network import links, naming, netns, plan
from agent.service.namespaces import NamespaceAddressing, configure
from agent.service.reconcilers import AgentContext

log = logging.getLogger("cloudlet.agent.batch")

#: What follows the agent's prefix in a service namespace's name (``naming.service_netns``).
SERVICE_NAMESPACE = re.compile(r"svc-eni-[0-9a-f]+")
#: Inside the namespace: the veth end the network plan puts there.
INTERFACE = "eth0"


class JobNetworks:
    """The namespaces of this host's job attempts, and their credentials endpoints."""

    def __init__(self, name_prefix: str, state_dir: Path, endpoints: CredentialsEndpoints, *,
                 dataplane: bool = True) -> None:
        self.name_prefix = name_prefix
        self.markers = state_dir
        self.markers.mkdir(parents=True, exist_ok=True)
        self.endpoints = endpoints
        #: whether the VPC dataplane runs here (it plugs the ENIs; without it a job with an ENI cannot start)
        self.dataplane = dataplane

    def ready(self, entry: Mapping[str, Any]) -> str | None:
        """The attempt's namespace, plugged and addressed, with its credentials endpoint when it has a job
        role; None without a job ENI, or while the dataplane has not plugged it yet."""
        if not entry.get("network"):
            return None
        if not self.dataplane:
            raise ValueError("the job has a network interface, but the VPC dataplane does not run on this host")
        name = self.prepare(entry["network"])
        if name is not None:
            self.serve(entry)
        return name

    def serve_adopted(self, entries: list[Mapping[str, Any]]) -> None:
        """Credentials endpoints again for running attempts (adopted after an agent restart)."""
        for entry in entries:
            if entry.get("network"):
                try:
                    self.serve(entry)
                except OSError as exc:
                    log.warning("batch attempt %s/%s: no credentials endpoint: %s", entry["job_id"],
                                entry["attempt"], exc)

    def serve(self, entry: Mapping[str, Any]) -> None:
        """Serve the attempt's job role credentials in its namespace, if it has a role and is not served yet
        (an attempt adopted after an agent restart gets its listener again)."""
        credentials = entry.get("credentials")
        if credentials:
            self.endpoints.ensure(self.namespace(entry["network"]["eni_id"]), JobCredentials(
                entry["job_id"], int(entry["attempt"]), credentials["relative_uri"]))

    def namespace(self, eni_id: str) -> str:
        return naming.service_netns(self.name_prefix, eni_id)

    def prepare(self, network: Mapping[str, Any]) -> str | None:
        """Make and configure the attempt's namespace; its name once the ENI is plugged, None until then.

        The namespace appears after the network pass that planned the ENI's port (that pass runs first and
        finds it missing), so the port is plugged here at once (:meth:`plug`) rather than by the next pass."""
        eni_id = network["eni_id"]
        name = self.namespace(eni_id)
        (self.markers / eni_id).touch()
        netns.create(name)
        addressing = NamespaceAddressing(eni_id=eni_id, netns=name, ifname=INTERFACE,
                                         addresses=(network["ipv4"],), gateway=network["gateway"], gateway6=None)
        with IPRoute(netns=name) as ipr:
            if not ipr.link_lookup(ifname=INTERFACE):
                self.plug(network, ipr)
            if not configure(ipr, addressing):
                return None
            loopback = ipr.link_lookup(ifname="lo")[0]
            present = {msg.get_attr("IFA_ADDRESS") for msg in ipr.get_addr(index=loopback)}
            if CREDENTIALS_ADDRESS not in present:
                ipr.addr("add", index=loopback, address=CREDENTIALS_ADDRESS, prefixlen=32)
        return name

    def plug(self, network: Mapping[str, Any], inside: IPRoute) -> bool:
        """Plug the ENI's veth into the attempt's namespace (``inside``, a handle on it) and onto its subnet's
        bridge, as the network plan would (``plan.eni_veth``), once the router's ruleset guards its port; False
        when it is left to the network pass (that ruleset is not loaded yet, or the entry has no ``vpc_id``:
        an attempt placed by a controller from before it had)."""
        if not network.get("vpc_id"):
            return False
        eni_id = network["eni_id"]
        link = plan.eni_veth(eni_id, network["subnet_id"], network["mac"], service_port(eni_id),
                             self.namespace(eni_id), INTERFACE)
        return links.plug_veth(naming.router_netns(self.name_prefix, network["vpc_id"]), link, inside)

    def release(self, eni_id: str) -> None:
        """Delete the attempt's namespace (its container is gone; the dataplane drops the veth's far end)."""
        self.endpoints.close(self.namespace(eni_id))
        netns.remove(self.namespace(eni_id))
        with contextlib.suppress(FileNotFoundError):
            (self.markers / eni_id).unlink()

    def known(self) -> set[str]:
        return {marker.name for marker in self.markers.iterdir()}

    def keep_only(self, entries: list[Mapping[str, Any]]) -> None:
        """Remove this agent's namespaces of ENIs no listed attempt has any more."""
        wanted = {entry["network"]["eni_id"] for entry in entries if entry.get("network")}
        for eni_id in self.known() - wanted:
            log.info("removing the namespace of ended job network interface %s", eni_id)
            self.release(eni_id)

    def close(self) -> None:
        """The agent stops: stop serving credentials (namespaces stay for the containers a new agent adopts)."""
        self.endpoints.close_all()


def for_agent(context: AgentContext) -> JobNetworks:
    """The agent's job namespaces, with credentials asked of the controller."""
    client, host_id = context.client, context.host_id
    endpoints = CredentialsEndpoints(lambda job_id, attempt: client.batch_credentials(host_id, job_id, attempt))
    return JobNetworks(context.name_prefix, context.state_dir / "batch" / "networks", endpoints,
                       dataplane=context.dataplane)


def teardown(name_prefix: str) -> list[str]:
    """``cloudlet-agent --teardown``: remove the prefix's service namespaces still there once EFS and the load
    balancers removed theirs, that is the job namespaces (found by name: the teardown may not know the agent's
    state directory)."""
    removed = [name for name in netns.list_names()
               if name.startswith(name_prefix) and SERVICE_NAMESPACE.fullmatch(name[len(name_prefix):])]
    for name in removed:
        netns.remove(name)
    return removed
