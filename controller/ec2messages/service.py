"""The ec2messages ``ServiceApi``: every module of this package registers its operations on ``api``.

Its model is Cloudlet's (``controller/protocol/private_models/ec2messages``): AWS serves the service to its
agents but publishes no SDK model for it. The IAM actions are AWS's (``ec2messages:GetMessages``...), which
``AmazonSSMManagedInstanceCore`` grants.
"""

from controller.api import ServiceApi

api = ServiceApi("ec2messages")
