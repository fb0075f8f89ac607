"""Amazon SNS: standard and FIFO topics, subscriptions with filter policies, and deliveries that outlive
a restart (to SQS, HTTP/S, Lambda once it registers, and a delivery log for email, SMS and push)."""

import dataclasses

from controller.api import Operation, Params, RequestContext
from controller.auth.errors import missing_authentication
from controller.sns import publishing, state, subscriptions, topics  # noqa: F401  (registers operations, tables)
from controller.sns.records import resource_lookup
from controller.sns.service import api
from controller.sns.worker import start, stop

#: What endpoints call unsigned: the SubscribeURL and UnsubscribeURL of the messages SNS sent them.
UNSIGNED_OPERATIONS = ("ConfirmSubscription", "Unsubscribe")


def _signed_first(operation: Operation) -> Operation:
    """The operation refusing unsigned calls as SNS does (MissingAuthenticationToken, whatever a topic
    policy grants to ``*``) before IAM judges the call: the gateway's authorization moves in here."""
    def run(ctx: RequestContext, params: Params) -> Params:
        if ctx.principal.kind == "anonymous":
            raise missing_authentication("sns")
        if operation.authorize:
            ctx.cloud.authorizer.authorize(ctx, operation, params)
        return operation.handler(ctx, params)
    return dataclasses.replace(operation, handler=run, authorize=False)


#: A topic's policy is the resource policy IAM evaluates Publish, Subscribe... from other accounts against.
api.resource_lookup = resource_lookup
api.anonymous_requests = True
for _name, _operation in list(api.operations.items()):
    if _name not in UNSIGNED_OPERATIONS:
        api.operations[_name] = _signed_first(_operation)
api.on_start.append(start)
api.on_stop.append(stop)

__all__ = ["api"]
