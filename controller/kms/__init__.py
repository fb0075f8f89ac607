"""AWS Key Management Service: customer and AWS managed keys, their policies, grants and cryptography."""

from controller.kms import (  # noqa: F401  (register operations on api; state declares KMS's tables)
    aliases,
    asymmetric,
    crypto_operations,
    grants,
    key_policies,
    keys,
    rotation,
    state,
)
from controller.kms.access import key_lookup
from controller.kms.master import ensure_master_key
from controller.kms.service import api

#: A key's policy, with its grants, is the resource policy IAM evaluates for every call on the key.
api.resource_lookup = key_lookup
#: The master key that wraps key material is made before the first request (master.py).
api.on_start.append(ensure_master_key)
