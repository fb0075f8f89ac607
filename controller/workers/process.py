"""One API worker process: ``python -m controller.workers.process``, started by the primary's supervisor.

It inherits the API's listening socket (``--listen-fd``), builds its own :class:`~controller.cloud.Cloud`
over the shared data dir with ``primary=False`` (no start hooks, no background workers), joins the state
bus before it serves anything, and serves until SIGTERM, or until the primary is gone.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import logging
import os
import signal
import socket
import threading
from pathlib import Path
from typing import Any

from controller.config import Config
from controller.process_exit import exit_without_teardown
from controller.workers import LOCAL_SERVICES, paths

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cloudlet-api-worker")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--listen-fd", type=int, required=True)
    parser.add_argument("--settings", default="{}", help="JSON: the primary's settings decided at its start (its port)")
    parser.add_argument("--parent", type=int, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("CLOUDLET_LOG", "INFO"),
                        format=f"%(asctime)s %(levelname)s worker-{os.getpid()} %(name)s: %(message)s")
    # Whatever ends the primary (a SIGKILL too) ends this process at once, as a crash of the whole controller:
    # it must never serve a cloud alone, nor hold the API port a restarted primary binds again.
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != args.parent:
        return 0  # the primary died before prctl took effect
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        # Set from a thread of its own: the handler runs in the main thread, which may hold the event's lock
        # inside stop.wait() at that moment, and setting it there would wait for itself forever.
        signal.signal(signum, lambda *_: threading.Thread(target=stop.set, name="stop").start())
    serve(args.data_dir, socket.socket(fileno=args.listen_fd), json.loads(args.settings), stop)
    return 0


def serve(data_dir: Path, listening: socket.socket, settings: dict[str, Any], stop: threading.Event) -> None:
    from controller.cloud import Cloud
    from controller.server import HttpServer
    from controller.workers.relay import Relay
    from controller.wsgi import create_app

    config = Config.load(data_dir, **settings)
    cloud = Cloud(config, primary=False)
    cloud.db.join_bus(paths.bus(data_dir))  # before any cache can be filled: no announcement is missed
    relay = Relay(str(paths.primary_socket(data_dir)), cloud.agent_token)
    host, port = listening.getsockname()[:2]
    server = HttpServer(create_app(cloud, relay=relay, local_services=LOCAL_SERVICES), host, port, config.threads,
                        inherited=listening)
    try:
        server.start()
        log.info("serving %s", ", ".join(sorted(LOCAL_SERVICES)))
        while not stop.wait(0.5):  # polled: see run_up
            pass
    finally:
        cloud.db.end_waits()
        server.stop()
        relay.close()
        cloud.close()


if __name__ == "__main__":
    exit_without_teardown(main())
