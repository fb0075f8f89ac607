"""The load balancer agent's call on the agent RPC: the health and counters report (contract §2)."""

from __future__ import annotations

from typing import Any

from agent.client import HostLink
from agent.contract.reports import LoadBalancersReport


class LoadBalancerLink(HostLink):
    """``POST /hosts/<id>/loadbalancers`` with the agent's bearer token (the route of controller/elbv2/reports.py)."""

    def __init__(self, host: str, port: int, token: str, host_id: str, timeout: float = 10.0) -> None:
        super().__init__(host, port, token, host_id, timeout)

    def report(self, report: dict[str, Any]) -> dict[str, Any]:
        return self._post_message("/loadbalancers", LoadBalancersReport, report, "load balancer report")
