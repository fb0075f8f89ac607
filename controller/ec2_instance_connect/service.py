"""The EC2 Instance Connect ``ServiceApi``: every module of this package registers its operations on ``api``.

It lives apart from the package's ``__init__`` (which imports those modules to register them), so
no module imports the package that imports it. The IAM action prefix is the model name
(``ec2-instance-connect:SendSSHPublicKey``), as AWS's service authorization reference names it.
"""

from controller.api import ServiceApi

api = ServiceApi("ec2-instance-connect")
