"""The AWS Batch ``ServiceApi``: every module of this package registers its operations on ``api``."""

from controller.api import ServiceApi

api = ServiceApi("batch")
