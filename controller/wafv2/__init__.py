"""wafv2: the package's modules register their operations on ``api`` when imported here."""

from controller.wafv2 import (  # noqa: F401  (register operations on api)
    associations,
    ip_sets,
    log_config,
    regex_sets,
    sampled,
    tags,
    web_acls,
)
from controller.wafv2.service import api

__all__ = ["api"]
