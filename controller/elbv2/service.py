"""The Elastic Load Balancing v2 ``ServiceApi``: every module of this package registers its operations on ``api``."""

from controller.api import ServiceApi

api = ServiceApi("elbv2", action_prefix="elasticloadbalancing")
