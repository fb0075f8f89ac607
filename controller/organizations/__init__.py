"""AWS Organizations: the cloud's accounts, with the first one as the management account."""

from controller.organizations import operations, policies, state, tags, units  # noqa: F401  (register operations)
from controller.organizations.service import api as api  # the service's operations, for controller.cloud
