"""Lambda's event machinery per cloud (``cloud.lambda_events``): the async worker and the mappings' pollers.

Lambda's start hook makes it, registers SNS's ``lambda`` protocol and starts the threads; its stop hook
stops them. The pollers follow the mappings table: a change to a mapping announces ``MAPPINGS_TOPIC``
on commit, which wakes the follower thread to start, restart or stop pollers so that exactly the
enabled mappings are polled, each with its current settings.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy import select

from controller.awslambda.events import sns_source, state
from controller.awslambda.events.sqs_poller import MappingPoller, MappingSpec
from controller.awslambda.events.worker import AsyncWorker
from controller.awslambda.service import api

log = logging.getLogger(__name__)
Cloud = Any
#: How often the follower looks at the mappings without news (commits of other processes).
_FOLLOW_SECONDS = 5.0


class EventsRuntime:
    """The async worker and one poller per enabled mapping, for one cloud."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self.worker = AsyncWorker(cloud)
        self.pollers: dict[str, MappingPoller] = {}
        self._wake = threading.Event()
        self._stopping = False
        self._follower = threading.Thread(target=self._follow, name="lambda-mappings", daemon=True)

    def start(self) -> None:
        self.worker.start()
        self.cloud.db.subscribe(state.MAPPINGS_TOPIC, self._wake.set)
        self.cloud.leadership.on_elected(self._wake.set)
        self._follower.start()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        self._follower.join(timeout=10)
        for poller in self.pollers.values():
            poller.stop()
        for poller in self.pollers.values():
            poller.join(timeout=10)
        self.pollers.clear()
        self.worker.stop()

    def _follow(self) -> None:
        while not self._stopping:
            try:
                self.reconcile()
            except Exception:
                log.exception("Lambda mapping follower failed; retrying")
            self._wake.wait(_FOLLOW_SECONDS)
            self._wake.clear()

    def reconcile(self) -> None:
        """Poll exactly the enabled mappings, each with its current settings (none in a controller that does
        not lead: controller/state/leadership.py)."""
        t = state.event_source_mappings
        wanted: dict[str, MappingSpec] = {}
        if self.cloud.leadership.leading:
            with self.cloud.db.read() as conn:
                wanted = {row["uuid"]: MappingSpec.of(dict(row))
                          for row in conn.execute(select(t).where(t.c.enabled == 1)).mappings()}
        for mapping_uuid, poller in list(self.pollers.items()):
            if wanted.get(mapping_uuid) != poller.spec:
                poller.stop()
                del self.pollers[mapping_uuid]
        for mapping_uuid, spec in wanted.items():
            if mapping_uuid not in self.pollers and not self._stopping:
                poller = MappingPoller(self.cloud, spec)
                poller.start()
                self.pollers[mapping_uuid] = poller


def start(cloud: Cloud) -> None:
    """Lambda's start hook: SNS's ``lambda`` protocol, the async worker (which resumes what was owed) and pollers."""
    cloud.sns_delivery_protocols["lambda"] = sns_source.deliver
    if cloud.lambda_events is None:
        cloud.lambda_events = EventsRuntime(cloud)
        cloud.lambda_events.start()


def stop(cloud: Cloud) -> None:
    if cloud.lambda_events is not None:
        cloud.lambda_events.stop()
        cloud.lambda_events = None


api.on_start.append(start)
#: First among Lambda's stop hooks: the event threads end before the invoker they call is closed.
api.on_stop.insert(0, stop)
