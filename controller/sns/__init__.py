"""Amazon SNS: standard and FIFO topics, subscriptions with filter policies, and deliveries that outlive
a restart (to SQS, HTTP/S, Lambda once it registers, and a delivery log for email, SMS and push)."""

from controller.sns import publishing, state, subscriptions, topics  # noqa: F401  (registers operations, tables)
from controller.sns.records import resource_lookup
from controller.sns.service import api
from controller.sns.worker import start, stop

#: A topic's policy is the resource policy IAM evaluates Publish, Subscribe... from other accounts against.
api.resource_lookup = resource_lookup
#: Endpoints confirm subscriptions (and unsubscribe) with unsigned GETs of the URLs SNS sent them;
#: IAM refuses every other unsigned call.
api.anonymous_requests = True
api.on_start.append(start)
api.on_stop.append(stop)

__all__ = ["api"]
