"""Elastic Load Balancing v2: Application and Network Load Balancers, their listeners and rules, target
groups and targets. The ``loadbalancers`` host section tells agents which nodes to run (HAProxy behind
each node's ENI); their reports (``reports.py``, routed by ``controller/hosts/agent_api.py``) bring
target health and metrics back.
"""

from controller.elbv2 import (  # noqa: F401  (register operations on api; state declares ELBv2's tables)
    listener_rules,
    listeners,
    load_balancers,
    state,
    tags,
    target_groups,
)
from controller.elbv2.desired import loadbalancers_section
from controller.elbv2.service import api

#: What each host runs (the lb contract); after EC2's sections, whose ``network`` plugs the nodes' ENIs.
api.host_sections["loadbalancers"] = loadbalancers_section

__all__ = ["api"]
