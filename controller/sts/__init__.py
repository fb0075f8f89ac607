"""AWS Security Token Service: who am I, and temporary credentials."""

from controller.iam.resources import role_trust_lookup
from controller.sts import identity, sessions, web_identity  # noqa: F401  (register operations on api)
from controller.sts.service import api

#: A role's trust policy is the resource policy AssumeRole is evaluated against.
api.resource_lookup = role_trust_lookup
