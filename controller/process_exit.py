"""Ending a long-running Cloudlet process once it has stopped everything it started.

``cloudlet up`` and its API workers import every service (~800 modules) and hold large object graphs (service
models, SQLAlchemy metadata, caches). After their own shutdown, which closes the database, the journals and the
listeners, the interpreter's teardown of all that took about a second more per process, and every stop waits for
it: an operator's restart, the primary waiting for its workers, the test suite's clouds. Nothing the cloud keeps
depends on that teardown, so these processes flush their output and leave without it.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import NoReturn


def exit_without_teardown(code: int) -> NoReturn:
    """Flush logs and standard streams, then end the process with ``code`` (no atexit, no module teardown)."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)
