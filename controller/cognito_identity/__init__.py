"""cognito-identity: the package's modules register their operations on ``api`` when imported here."""

from controller.cognito_identity import identities, pools  # noqa: F401  (register operations on api)
from controller.cognito_identity.service import api

__all__ = ["api"]
