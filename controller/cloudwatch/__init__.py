"""Amazon CloudWatch: metrics (PutMetricData, statistics, metric math), alarms (metric, metric math and
composite) evaluated in the background, with actions on SNS, Auto Scaling and EC2; ``ingest.py`` is how
the cloud's own services write their ``AWS/`` metrics."""

from controller.cloudwatch import alarms, describe, metric_data, metrics, state  # noqa: F401  (registers)
from controller.cloudwatch.service import api
from controller.cloudwatch.worker import start, stop

api.on_start.append(start)
api.on_stop.append(stop)

__all__ = ["api"]
