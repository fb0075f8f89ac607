"""The AWS Lambda ``ServiceApi``: every module of this package registers its operations on ``api``.

It lives apart from the package's ``__init__`` (which imports those modules to register them), so
no module imports the package that imports it. The package is ``awslambda`` because ``lambda`` is a
Python keyword; the botocore model (and so the API, the IAM prefix and the ARNs) is ``lambda``.
"""

from controller.api import ServiceApi

api = ServiceApi("lambda")
