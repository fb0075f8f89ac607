"""The console's one way to the cloud: API calls as the signed-in principal, and IAM's opinion of them.

Every action and every page's data is an API call made with ``service_calls.call`` as the session's
principal: the same gateway path a signed call takes (the operation's own validation, IAM enforcement,
the CloudTrail record with the session's access key and the browser's address), without a loopback HTTP
connection, a SigV4 signature to compute and verify, or the endpoint's TLS setup to trust. The console
therefore holds no privilege of its own: what a user cannot do through the API they cannot do here.

:meth:`ConsoleApi.may` asks the policy engine, for display only, whether a call would be allowed, so the
pages can disable buttons; the API still decides when the button is pressed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from controller import service_calls
from controller.api import Principal, RequestContext, ResourceInfo
from controller.iam.enforce import evaluate_for
from controller.service_calls import ServiceCallError

#: How many items a listing page asks the API for: pages stay fast whatever the account holds.
PAGE_SIZE = 50
#: The user agent CloudTrail records for the console's calls.
USER_AGENT = "cloudlet-console"
#: The action that lets a principal of the management account see the cloud's hosts. Hosts are no AWS
#: resource, so no AWS managed policy names it: ``AdministratorAccess`` (``*``) grants it, and an operator
#: can grant it alone.
LIST_HOSTS_ACTION = "cloudlet:ListHosts"

__all__ = ["ConsoleApi", "ServiceCallError", "LIST_HOSTS_ACTION"]


@dataclass(frozen=True)
class ConsoleApi:
    """API calls and policy questions for one console request."""

    cloud: Any
    principal: Principal
    source_ip: str
    secure: bool

    def call(self, service: str, operation: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """The operation's output; :class:`ServiceCallError` (code and AWS's message) when refused."""
        return service_calls.call(self.cloud, self.principal, service, operation, params or {},
                                  invoked_by=USER_AGENT, source_ip=self.source_ip)

    def may(self, action: str, arn: str = "*", tags: dict[str, str] | None = None) -> bool:
        """Whether the policy engine would allow ``action`` on ``arn`` (a resource of the caller's account
        carrying ``tags``, as the page already read them: no lookup per button)."""
        principal = self.principal
        service, _, operation = action.partition(":")
        ctx = RequestContext(cloud=self.cloud, service=service, operation=operation, request_id="",
                             region=self.cloud.config.region, principal=principal,
                             source_ip=self.source_ip, user_agent=USER_AGENT, secure_transport=self.secure)
        info = ResourceInfo(owner_account=principal.account_id, tags=tags or {}) if arn != "*" else None
        return evaluate_for(ctx, action, arn, info).allowed

    def sees_hosts(self) -> bool:
        """Whether the cloud's hosts may be shown: the one read that is not an API call (hosts are the
        cloud's, not an account's), so only to the management account's root user or its principals
        allowed :data:`LIST_HOSTS_ACTION`."""
        if self.principal.account_id != self.cloud.credentials.management_account():
            return False
        return self.may(LIST_HOSTS_ACTION)
