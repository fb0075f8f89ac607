"""Amazon EC2 Auto Scaling: launch configurations, groups that keep real EC2 instances at their desired
capacity (through EC2's own API, as the service-linked role), activities, lifecycle hooks, scaling policies,
scheduled actions and instance refreshes; ``worker.py`` is the reconciler that does the work."""

from controller.autoscaling import (  # noqa: F401  (registers operations and tables)
    activities,
    group_extras,
    group_instances,
    groups,
    hooks,
    launch_configs,
    notifications,
    policies,
    refresh,
    scheduled,
    state,
    tags,
)
from controller.autoscaling.service import api
from controller.autoscaling.worker import start, stop

api.on_start.append(start)
api.on_stop.append(stop)

__all__ = ["api"]
