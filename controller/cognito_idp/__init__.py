"""cognito-idp: the package's modules register their operations on ``api`` when imported here."""

from controller.cognito_idp import (  # noqa: F401  (registers)
    admin_users,
    auth,
    clients,
    domains,
    groups,
    list_users,
    mfa,
    password_flows,
    pools,
    resource_servers,
    self_users,
    signup,
    srp_flow,
    state,
)
from controller.cognito_idp.service import api

__all__ = ["api"]
