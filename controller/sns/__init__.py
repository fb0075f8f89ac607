"""Amazon SNS: standard and FIFO topics, subscriptions with filter policies, and deliveries that outlive
a restart (to SQS, HTTP/S, Lambda once it registers, and a delivery log for email, SMS and push)."""

import dataclasses

from controller.api import Handler, Params, RequestContext
from controller.auth.errors import missing_authentication
from controller.sns import publishing, state, subscriptions, topics  # noqa: F401  (registers operations, tables)
from controller.sns.records import resource_lookup
from controller.sns.service import api
from controller.sns.worker import start, stop

#: What endpoints call unsigned: the SubscribeURL and UnsubscribeURL of the messages SNS sent them.
UNSIGNED_OPERATIONS = ("ConfirmSubscription", "Unsubscribe")


def _signed_only(handler: Handler) -> Handler:
    """SNS serves no other unsigned call, whatever a topic policy grants to ``*``."""
    def run(ctx: RequestContext, params: Params) -> Params:
        if ctx.principal.kind == "anonymous":
            raise missing_authentication("sns")
        return handler(ctx, params)
    return run


#: A topic's policy is the resource policy IAM evaluates Publish, Subscribe... from other accounts against.
api.resource_lookup = resource_lookup
api.anonymous_requests = True
for _name, _operation in list(api.operations.items()):
    if _name not in UNSIGNED_OPERATIONS:
        api.operations[_name] = dataclasses.replace(_operation, handler=_signed_only(_operation.handler))
api.on_start.append(start)
api.on_stop.append(stop)

__all__ = ["api"]
