"""wafv2: the package's modules register their operations on ``api`` when imported here."""

from controller.wafv2.service import api

__all__ = ["api"]
