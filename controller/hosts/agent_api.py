"""The agent-facing HTTP API (``/_cloudlet/agent/v1/...``): one blueprint, with every endpoint module's routes.

``rpc`` holds registration, heartbeats, the desired-state long-poll and metadata; ``instance_reports``
the compute agent's reports, AMI downloads and CreateImage uploads; ``metric_reports`` its instances'
CloudWatch metrics; ``probe_reports`` Reachability Analyzer's probes; ``volume_reports`` the storage
agent's volume reports and snapshot data. Flask takes no new routes once a
blueprint is registered on an app, so both are imported here, before anyone registers it.
"""

from controller.awslambda.invoke import code_endpoint  # noqa: F401  (the function runners' code endpoint)
from controller.ec2.vpc.reachability import probe_reports  # noqa: F401  (Reachability Analyzer's probe reports)
from controller.elbv2 import reports as loadbalancer_reports  # noqa: F401  (the load balancer agents' reports)
from controller.hosts import api_tls, instance_reports, metric_reports, rpc, volume_reports

blueprint = rpc.blueprint
blueprint.register_blueprint(api_tls.blueprint)  # GET /api-tls: the API relay's certificate, behind the token

__all__ = ["blueprint", "instance_reports", "metric_reports", "volume_reports"]
