"""How a service declares its operations, and what an operation sees of a request.

A service package (``controller/sts``, ``controller/s3``...) creates one
:class:`ServiceApi` named after its botocore service model and decorates plain
functions from an input dict to an output dict::

    api = ServiceApi("sts")

    @api.operation("GetCallerIdentity", authorize=False)
    def get_caller_identity(ctx: RequestContext, params: dict) -> dict:
        return {"Account": ctx.account_id, "Arn": ctx.principal.arn, "UserId": ctx.principal.user_id}

The operation declares, next to its code, what IAM authorizes it against: the action
is ``<service prefix>:<Operation>`` and ``resources`` maps the input to the resource
ARNs the real service checks (``"*"`` when omitted). Nothing here knows about HTTP.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from controller.auth.sigv4 import SignatureInfo, SigningContext
    from controller.hosts.desired import SectionProvider
    from controller.protocol.http import HttpRequest, HttpResponse

#: The :class:`controller.cloud.Cloud` a request runs in. Named here rather than imported, even for
#: type checking: cloud.py is built on this contract, and the contract importing its composition
#: root would make the two an import circle.
Cloud = Any

Params = dict[str, Any]
Handler = Callable[["RequestContext", Params], Params]
ResourceMapper = Callable[["RequestContext", Params], list[str]]


@dataclass(frozen=True)
class ResourceInfo:
    """What IAM needs to know about a resource beyond its ARN.

    ``policy`` is the resource-based policy (JSON text: a bucket policy, a queue policy,
    a role's trust policy...) or None; ``owner_account`` decides whether a call is
    cross-account; ``tags`` fill ``aws:ResourceTag/*``.
    """

    owner_account: str
    policy: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


ResourceLookup = Callable[["RequestContext", str], "ResourceInfo | None"]


class Authorizer(Protocol):
    """What the gateway asks before every handler: the service that enforces access provides it."""

    def authorize(self, ctx: RequestContext, operation: Operation, params: Params) -> None:
        """Raise the service's AccessDenied unless IAM allows the call. Called for every operation, also
        those registered with ``authorize=False``: what those still owe (the VPC endpoint they came
        through must serve their service) is the authorizer's to decide."""


@dataclass(frozen=True)
class Principal:
    """Who is calling, as resolved from the access key.

    ``kind`` is one of ``root``, ``user``, ``assumed-role``, ``federated``, ``anonymous``.
    ``user_id`` is what STS GetCallerIdentity returns as UserId (the account id for root,
    AIDA... for users, ``AROA...:session`` for role sessions). ``name`` is the user name,
    or the role name for a role session. ``session_*`` members are set for temporary
    credentials only.
    """

    account_id: str
    arn: str
    kind: str
    user_id: str
    name: str = ""
    access_key_id: str = ""
    session_name: str = ""
    role_arn: str = ""
    session_policy: str | None = None
    session_tags: dict[str, str] = field(default_factory=dict)
    mfa_authenticated_at: dt.datetime | None = None
    source_identity: str = ""

    @property
    def is_root(self) -> bool:
        return self.kind == "root"


@dataclass
class RequestContext:
    """Everything an operation may know about the request besides its input."""

    cloud: Cloud
    service: str
    operation: str
    request_id: str
    region: str
    principal: Principal
    source_ip: str = "127.0.0.1"
    user_agent: str = ""
    secure_transport: bool = False
    received_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    host: str = ""
    #: Set when the request came from inside a VPC through an agent's API relay (controller/gateway.py trusts
    #: the relay's headers only with the agents' token): the VPC, and the VPC endpoint (``vpce-…``) it came
    #: through, or None when it came the Internet way (EIP or NAT gateway). Endpoint policies and the
    #: ``aws:SourceVpc``/``aws:SourceVpce`` condition keys read them.
    source_vpc: str | None = None
    source_vpce: str | None = None
    #: Resource ARNs the operation touched, added by the operation for the audit trail
    #: (for example the ARN of a resource it created).
    audit_resources: list[str] = field(default_factory=list)
    #: Extra request-scoped condition keys for IAM (``s3:prefix``, ``ec2:Region``...).
    condition_keys: dict[str, Any] = field(default_factory=dict)

    @property
    def account_id(self) -> str:
        return self.principal.account_id


@dataclass(frozen=True)
class Operation:
    """One AWS operation: its handler and how IAM authorizes it."""

    service: str
    name: str
    handler: Handler
    action: str
    resources: ResourceMapper | None
    authorize: bool


class ServiceApi:
    """The operations one service implements, keyed by their model name."""

    def __init__(self, model_name: str, *, action_prefix: str | None = None) -> None:
        self.model_name = model_name
        self.action_prefix = action_prefix or model_name
        self.operations: dict[str, Operation] = {}
        #: Set by services whose resources carry policies, owners or tags that IAM must see
        #: (S3 buckets, SQS queues, SNS topics, Lambda functions); None means "the ARN says it all".
        self.resource_lookup: ResourceLookup | None = None
        #: Rewrites a request before routing, into the form routing and signatures expect (S3 turns
        #: virtual-hosted ``<bucket>.<domain>`` requests into path style); every service's runs.
        self.rewrite_request: Callable[[Cloud, HttpRequest], HttpRequest] | None = None
        #: Whether unsigned requests are served, as the anonymous principal that IAM then judges (S3).
        self.anonymous_requests = False
        #: Makes a signed request's body trustworthy before the handler reads it (S3's aws-chunked
        #: decoding and payload checks): called with the request, its signature and signing context.
        self.open_payload: Callable[[HttpRequest, SignatureInfo, SigningContext], None] | None = None
        #: Answers unauthenticated ``OPTIONS`` requests (browsers never sign CORS preflights).
        self.preflight: Callable[[Cloud, HttpRequest], HttpResponse] | None = None
        #: Extra headers for every response to a request (CORS headers for requests with ``Origin``).
        self.response_headers: Callable[[Cloud, HttpRequest], dict[str, str]] | None = None
        #: Sections this service adds to every host's desired document, in the order agents apply them
        #: (``controller.hosts.desired``): section name -> provider.
        self.host_sections: dict[str, SectionProvider] = {}
        #: Set by the one service that enforces access (IAM): makes the cloud's :class:`Authorizer`.
        self.authorizer: Callable[[Cloud], Authorizer] | None = None
        #: Called with the cloud once before serving, and once at shutdown (recovery, background work).
        self.on_start: list[Callable[[Cloud], None]] = []
        self.on_stop: list[Callable[[Cloud], None]] = []

    def operation(self, name: str, *, resources: ResourceMapper | None = None,
                  authorize: bool = True, action: str | None = None) -> Callable[[Handler], Handler]:
        """Register ``handler`` as the implementation of operation ``name``.

        ``authorize=False`` is for the few calls AWS never checks (sts:GetCallerIdentity).
        ``action`` overrides the IAM action when it differs from the operation name
        (s3 ``ListObjectsV2`` authorizes ``s3:ListBucket``).
        """

        def register(handler: Handler) -> Handler:
            if name in self.operations:
                raise ValueError(f"{self.model_name}:{name} registered twice")
            self.operations[name] = Operation(
                service=self.model_name, name=name, handler=handler,
                action=action or f"{self.action_prefix}:{name}", resources=resources,
                authorize=authorize)
            return handler

        return register


def without_nulls(value: Any) -> Any:
    """The input with JSON ``null`` list items and map values left out, as absent (pure).

    The protocol layer lets nulls inside lists and maps through (services differ there); the JSON services
    that read them as absent (KMS, SSM) rather than meet a None where the model promises a value use
    :class:`NullsAsAbsentApi`.
    """
    if isinstance(value, dict):
        return {key: without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [without_nulls(item) for item in value if item is not None]
    return value


class NullsAsAbsentApi(ServiceApi):
    """A service whose handlers and resource mappers see their input :func:`without_nulls`."""

    def operation(self, name: str, *, resources: ResourceMapper | None = None, authorize: bool = True,
                  action: str | None = None) -> Callable[[Handler], Handler]:
        mapper = None
        if resources is not None:
            def mapper(ctx: RequestContext, params: Params, resources: ResourceMapper = resources) -> list[str]:
                return resources(ctx, without_nulls(params))
        register = super().operation(name, resources=mapper, authorize=authorize, action=action)

        def wrap(handler: Handler) -> Handler:
            register(lambda ctx, params: handler(ctx, without_nulls(params)))
            return handler

        return wrap
