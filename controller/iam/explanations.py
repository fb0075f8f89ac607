"""What the web console asks to show why a call was denied: :func:`explain_event`.

When IAM denies a call, enforcement records the decision's explanation (``verdicts.Explanation``: the
verdict, the policies and statements) beside the call's CloudTrail event, keyed by the event's id; the
console lists events with LookupEvents and hands an ``EventId`` here. Nothing of this is served over the
API: the event's public JSON stays CloudTrail's, with AWS's errorCode and errorMessage.

The policy simulator answers the same question for a hypothetical request: SimulatePrincipalPolicy and
SimulateCustomPolicy (``simulate.py``) return MatchedStatements, PermissionsBoundaryDecisionDetail and
OrganizationsDecisionDetail, which the console can draw with the same parts.
"""

from __future__ import annotations

import uuid
from typing import Any

from controller.api import Principal, RequestContext
from controller.audit.trail import explanation_of
from controller.iam.enforce import check_action
from controller.iam.verdicts import Explanation

__all__ = ["Explanation", "explain_event"]


def explain_event(cloud: Any, viewer: Principal, event_id: str) -> Explanation | None:
    """Why the call of CloudTrail event ``event_id`` was denied, as recorded when it was denied.

    None when the viewer's account has no such event, or the event is no IAM denial. The viewer must be
    allowed, by the same enforcement every API call goes through, both:

    - ``cloudtrail:LookupEvents``: the explanation is part of the event's record, and reading events is
      what that action grants (asked first, so a viewer without it learns nothing, not even whether the
      event exists); a refusal is CloudTrail's AccessDeniedException;
    - ``iam:SimulatePrincipalPolicy`` on the denied principal (the role, for a role session): the
      explanation names that principal's policies and statements, which is exactly what the simulator
      reveals about it. So the console shows nobody more than the API would; a refusal is IAM's
      AccessDenied.

    The checks run as a request from the console's own host (``aws:SourceIp`` 127.0.0.1).
    """
    cloud.db.sync()
    check_action(_context(cloud, viewer, "cloudtrail", "LookupEvents"), "cloudtrail:LookupEvents", ["*"])
    cloud.audit.flush()
    with cloud.db.read() as conn:
        found = explanation_of(conn, event_id)
    if found is None or found[0] != viewer.account_id or found[1] is None:
        return None
    explanation = Explanation.from_document(found[1])
    subject = explanation.role_arn or explanation.principal_arn or "*"
    check_action(_context(cloud, viewer, "iam", "SimulatePrincipalPolicy"), "iam:SimulatePrincipalPolicy",
                 [subject])
    return explanation


def _context(cloud: Any, viewer: Principal, service: str, operation: str) -> RequestContext:
    return RequestContext(cloud=cloud, service=service, operation=operation, request_id=str(uuid.uuid4()),
                          region=cloud.config.region, principal=viewer)
