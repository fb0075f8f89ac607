"""The edge: one endpoint for every service, as AWS's front door works.

For each request: find the service (credential scope, X-Amz-Target, Action, path),
authenticate the SigV4 signature against the access key's secret, find and parse the
operation through the botocore-driven protocol layer, let IAM authorize it, run the
service's plain-function handler, serialize the result or the error, and hand the
call to the audit trail. Nothing here is specific to one operation or one service: what a service
does differently (S3's virtual-hosted addressing, anonymous requests, streamed payloads, CORS) it
declares as hooks on its ``ServiceApi``. A call to an AWS
service or operation Cloudlet does not serve goes the same way (signature checked,
audited) and is refused in that service's own protocol.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.model import OperationModel, ServiceModel

from controller import protocol
from controller.api import Operation, Principal, RequestContext, ServiceApi
from controller.audit import CallRecord
from controller.auth import errors as auth_errors
from controller.auth import signers, sigv4
from controller.auth.store import ANONYMOUS
from controller.cloud import Cloud
from controller.errors import InternalError, ServiceError
from controller.protocol import HttpRequest, HttpResponse

log = logging.getLogger(__name__)


@dataclass
class Caller:
    """Transport facts about who sent the request.

    ``source_vpc``/``source_vpce`` are known only for requests an agent relayed from inside a VPC
    (:func:`relayed_caller`).
    """

    source_ip: str = "127.0.0.1"
    user_agent: str = ""
    secure: bool = False
    source_vpc: str | None = None
    source_vpce: str | None = None


#: Headers an agent's API relay (agent/network/api_relay.py) adds to a request it carries from inside a VPC.
RELAY_TOKEN = "x-cloudlet-relay-token"
RELAY_SOURCE_IP = "x-cloudlet-source-ip"
RELAY_SOURCE_VPC = "x-cloudlet-source-vpc"
RELAY_VIA = "x-cloudlet-via"


def relayed_caller(headers: dict[str, str], caller: Caller, is_agent: Callable[[str], bool]) -> Caller:
    """``caller`` as the relay that carried the request saw it, when the relay proves it is an agent.

    The relay's headers are believed only with an agent's credential (``is_agent``: the cloud-wide token or
    a joined host's, ``controller/hosts/credentials.py``, compared in constant time); without it they are
    ignored, so no client can claim another source address, VPC or endpoint. The
    relay terminated TLS itself, so the instance's connection was secure exactly when the relay says so
    through its ``X-Forwarded-Proto``.
    """
    token = headers.get(RELAY_TOKEN, "")
    if not token or not is_agent(token):
        return caller
    source_ip = headers.get(RELAY_SOURCE_IP, "").strip()
    try:
        ipaddress.ip_address(source_ip)
    except ValueError:
        return caller
    via = headers.get(RELAY_VIA, "").strip()
    return Caller(source_ip=source_ip, user_agent=caller.user_agent,
                  secure=headers.get("x-forwarded-proto", "") == "https",
                  source_vpc=headers.get(RELAY_SOURCE_VPC, "").strip() or None,
                  source_vpce=via if via.startswith("vpce-") else None)


@dataclass(frozen=True)
class OnBehalf:
    """A call a service makes itself as a principal's session (API Gateway's AWS integrations, as the
    integration's role), to the botocore service ``service``: nothing is signed, so neither the signature
    nor a credential scope is there to check or to route by; everything else (the operation, IAM, the audit
    record) is the same as for a client's call."""

    principal: Principal
    service: str


@dataclass(frozen=True)
class Route:
    """Where a request goes: the request as the services' addressing puts it, and the service it calls
    (``None`` when routing alone cannot tell: :meth:`Gateway.handle` gives that error)."""

    request: HttpRequest
    service: str | None


class Gateway:
    """Turns HTTP requests into service calls for one :class:`Cloud`."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self.services = set(cloud.services)

    def handle(self, request: HttpRequest, caller: Caller, *, on_behalf: OnBehalf | None = None,
               route: Route | None = None) -> HttpResponse:
        """Serve one call. ``on_behalf`` is for a call a service makes itself (see :class:`OnBehalf`);
        ``route`` is :meth:`route`'s answer for ``request`` when the caller needed it first."""
        request_id = str(uuid.uuid4())
        now = dt.datetime.now(dt.UTC)
        call = CallRecord(request_id=request_id, time=now, account_id="", service="", event_source="",
                          operation="", region=self.cloud.config.region, source_ip=caller.source_ip,
                          user_agent=caller.user_agent)
        service_model: ServiceModel | None = None
        operation_model: OperationModel | None = None
        api: ServiceApi | None = None
        # The signature covers the request as sent; routing sees it as the services' addressing puts it.
        routed = route.request if route is not None else self._rewritten(request)
        caller = relayed_caller(request.headers, caller, self.cloud.agent_credentials.trusts)
        call.source_ip = caller.source_ip
        try:
            if on_behalf is not None:
                service = on_behalf.service
            else:
                service = route.service if route is not None and route.service else self._service_for(routed)
            api = self.cloud.services.get(service)
            call.service = service
            # A service Cloudlet does not serve is known by its metadata alone (enough to render its
            # errors) until the caller has authenticated: no anonymous request loads a whole model.
            service_model = (protocol.wire_model(protocol.load_service_model(service), routed) if api is not None
                             else protocol.unserved_model(service, routed))
            call.event_source = f"{service_model.signing_name or service}.amazonaws.com"
            if api is not None and request.method == "OPTIONS" and api.preflight is not None:
                call.operation = "PreflightRequest"
                return self._with_service_headers(api, routed, api.preflight(self.cloud, routed))
            # Routing comes first so even a call that fails authentication is audited by name;
            # an unknown operation is reported only to callers that authenticated, as AWS does.
            routing_error: ServiceError | None = None
            if api is not None:
                try:
                    operation_model = protocol.find_operation(service_model, routed)
                    call.operation = operation_model.name
                except ServiceError as exc:
                    routing_error = exc
            else:
                call.operation = protocol.operation_hint(routed)
            if on_behalf is not None:
                principal = on_behalf.principal
                call.access_key_id = principal.access_key_id  # the session's key, as AWS records it
                _describe_principal(call, principal)
            else:
                principal = self._authenticate(request, service_model, api, now, call,
                                               unsigned_operation=operation_model is not None
                                               and operation_model.auth_type == "none")
            routed.body = request.body
            if api is None:
                raise self._unserved(service_model, routed, call)
            if routing_error is not None or operation_model is None:
                raise routing_error or InternalError("no operation")
            params = protocol.parse_request(operation_model, routed)
            call.parameters = params
            operation = api.operations.get(operation_model.name)
            if operation is None:
                raise protocol.unavailable_operation(service_model, operation_model.name,
                                                     "Cloudlet does not implement it yet.")
            ctx = RequestContext(cloud=self.cloud, service=service, operation=operation.name,
                                 request_id=request_id, region=self.cloud.config.region, principal=principal,
                                 source_ip=caller.source_ip, source_vpc=caller.source_vpc,
                                 source_vpce=caller.source_vpce, user_agent=caller.user_agent,
                                 secure_transport=caller.secure, received_at=now,
                                 host=request.header("host", "") or "")
            output = self._invoke(ctx, operation, params)
            call.resources = ctx.audit_resources
            response = protocol.serialize_response(operation_model, output, request_id)
        except ServiceError as exc:
            call.error_code, call.error_message, call.explanation = exc.code, exc.message, exc.explanation
            response = self._error(service_model, exc, request_id, operation_model)
        except Exception:
            log.exception("internal error in request %s", request_id)
            exc = InternalError("We encountered an internal error. Please try again.")
            call.error_code, call.error_message = exc.code, exc.message
            response = self._error(service_model, exc, request_id, operation_model)
        finally:
            if not call.operation:
                call.operation = routed.query_value("Action") or f"{request.method} {routed.path[:64]}"
            if not call.account_id:
                call.account_id = self.cloud.credentials.management_account() or ""
            if call.service:
                self.cloud.audit.record(call)
        return self._with_service_headers(api, routed, response)

    def route(self, request: HttpRequest) -> Route:
        """Where ``request`` goes, before anything else is done with it: an API worker serves the calls
        of some services and relays the others (and hands the route on to :meth:`handle`)."""
        routed = self._rewritten(request)
        try:
            return Route(routed, self._service_for(routed))
        except ServiceError:
            return Route(routed, None)

    def _service_for(self, request: HttpRequest) -> str:
        """The served service ``request`` is for, else the AWS service it names; else the refusal."""
        try:
            return protocol.resolve_service(request, services=self.services)
        except ServiceError:
            named = protocol.identify_service(request)
            if named is None:
                raise
            return named

    def _unserved(self, wire_model: ServiceModel, request: HttpRequest, call: CallRecord) -> ServiceError:
        """The error for an authenticated call to a service Cloudlet does not serve, naming its operation.

        ``wire_model`` is the service's metadata-only model, in the protocol the client spoke.
        """
        model = protocol.load_service_model(wire_model.service_name)
        try:
            operation_model = protocol.find_operation(model, request)
        except ServiceError as exc:
            return exc
        call.operation = operation_model.name
        service_id = model.metadata.get("serviceId", model.service_name)
        return protocol.unavailable_operation(wire_model, operation_model.name,
                                              f"Cloudlet does not serve {service_id}.")

    def _with_service_headers(self, api: ServiceApi | None, request: HttpRequest,
                              response: HttpResponse) -> HttpResponse:
        if api is not None and api.response_headers is not None and request.header("origin"):
            response.headers.update(api.response_headers(self.cloud, request))
        return response

    def _invoke(self, ctx: RequestContext, operation: Operation, params: dict[str, Any]) -> dict[str, Any]:
        self.cloud.authorizer.authorize(ctx, operation, params)  # it knows what authorize=False leaves to check
        return operation.handler(ctx, params) or {}

    def _rewritten(self, request: HttpRequest) -> HttpRequest:
        for api in self.cloud.services.values():
            if api.rewrite_request is not None:
                request = api.rewrite_request(self.cloud, request)
        return request

    def _authenticate(self, request: HttpRequest, service_model: ServiceModel, api: ServiceApi | None,
                      now: dt.datetime, call: CallRecord, *, unsigned_operation: bool) -> Principal:
        """Resolve the signer; raises the service's own error when the signature does not hold.

        An unsigned request is the anonymous principal for services that serve anonymous callers (S3) and
        for the operations whose model says they take no signature (``authtype: none``: Cognito's
        SignUp and InitiateAuth, STS AssumeRoleWithWebIdentity); a signed one is still checked.
        """
        service = service_model.service_name
        signing_name = service_model.signing_name or service
        info = sigv4.parse_authorization(request, service=signing_name)
        if info is None:
            if api is not None and (api.anonymous_requests or unsigned_operation):
                return ANONYMOUS
            raise auth_errors.missing_authentication(service)
        call.access_key_id = info.access_key_id
        credential = signers.active_credential(self.cloud, info, service)
        principal = credential.principal
        _describe_principal(call, principal)  # audited as the signer even when the signature then fails
        signing = signers.check_signature(credential, request, info, now=now, service=service,
                                          signing_name=signing_name)
        if api is not None and api.open_payload is not None:
            api.open_payload(request, info, signing)
        return principal

    def _error(self, service_model: ServiceModel | None, exc: ServiceError, request_id: str,
               operation_model: OperationModel | None) -> HttpResponse:
        if service_model is None:
            service_model = protocol.load_service_model("sts")
        return protocol.serialize_error(service_model, exc, request_id, operation_model)


def _describe_principal(call: CallRecord, principal: Principal) -> None:
    call.account_id = principal.account_id
    call.principal_kind = principal.kind
    call.principal_arn = principal.arn
    call.principal_id = principal.user_id
    call.principal_name = principal.name
    temporary = principal.access_key_id.startswith("ASIA")  # STS credentials: a role's or a user's session
    if principal.kind == "assumed-role" or temporary:
        call.session = {"attributes": {"mfaAuthenticated": str(principal.mfa_authenticated_at is not None).lower()}}
        if principal.kind == "assumed-role":
            call.session["sessionIssuer"] = {"type": "Role", "arn": principal.role_arn}
