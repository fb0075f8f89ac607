"""AWS Security Token Service: who am I, and temporary credentials."""

from controller.api import ServiceApi
from controller.iam.resources import role_trust_lookup

api = ServiceApi("sts")
#: A role's trust policy is the resource policy AssumeRole is evaluated against.
api.resource_lookup = role_trust_lookup

from controller.sts import identity, sessions  # noqa: E402,F401  (register operations on api)
