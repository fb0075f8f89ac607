"""AWS Security Token Service: who am I, and temporary credentials."""

from controller.api import ServiceApi

api = ServiceApi("sts")

from controller.sts import identity  # noqa: E402,F401  (registers operations on api)
