"""The Amazon EC2 Auto Scaling ``ServiceApi``: every module of this package registers its operations on ``api``."""

from controller.api import ServiceApi

api = ServiceApi("autoscaling")
