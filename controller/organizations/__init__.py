"""AWS Organizations: the cloud's accounts, with the first one as the management account."""

from controller.api import ServiceApi

api = ServiceApi("organizations")

from controller.organizations import operations, policies, state, tags, units  # noqa: E402,F401  (register operations)
