"""AWS Key Management Service: customer and AWS managed keys, their policies, grants and cryptography."""

from controller.kms import state  # noqa: F401  (declares KMS's tables)
from controller.kms.master import ensure_master_key
from controller.kms.service import api

#: The master key that wraps key material is made before the first request (master.py).
api.on_start.append(ensure_master_key)
