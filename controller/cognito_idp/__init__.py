"""cognito-idp: the package's modules register their operations on ``api`` when imported here."""

from controller.cognito_idp import (  # noqa: F401  (registers)
    auth,
    clients,
    password_flows,
    pools,
    state,
)
from controller.cognito_idp.service import api

__all__ = ["api"]
