"""The ssm ``ServiceApi``: every module of this package registers its operations on ``api``.

It lives apart from the package's ``__init__`` (which imports those modules to register them), so
no module imports the package that imports it.
"""

from controller.api import NullsAsAbsentApi

#: Parameter Store reads JSON nulls inside lists and maps as absent (:func:`controller.api.without_nulls`).
api = NullsAsAbsentApi("ssm")
