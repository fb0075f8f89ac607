"""AWS Identity and Access Management: identities, policies, and the engine that enforces them."""

from controller.iam import (  # noqa: F401  (modules register operations on api)
    access_keys,
    account_aliases,
    authorization_details,
    entity_policies,
    groups,
    instance_profiles,
    login_profiles,
    mfa,
    oidc_providers,
    password_policy,
    policies,
    roles,
    simulate,
    state,
    users,
)
from controller.iam.enforce import PolicyAuthorizer
from controller.iam.resources import iam_resource_lookup
from controller.iam.service import api

api.resource_lookup = iam_resource_lookup
#: IAM enforces every call of every service: the cloud's authorizer is IAM's.
api.authorizer = PolicyAuthorizer
