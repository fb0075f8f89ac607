"""The Amazon CloudWatch ``ServiceApi``: every module of this package registers its operations on ``api``.

Handlers see their input without JSON/CBOR nulls in lists and maps (read as absent), so a ``null`` among
a datum's Values or an alarm's Dimensions is never a 500.
"""

from controller.api import NullsAsAbsentApi

api = NullsAsAbsentApi("cloudwatch")
