"""The agent's reconcile loop and reconciler registry, with a fake controller and fake reconcilers."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest

from agent.client import ControllerError
from agent.contract.desired import DesiredState
from agent.contract.hosts import HostRegistration
from agent.service import loop, network
from agent.service.loop import AgentService, section_key
from agent.service.reconcilers import AgentContext, ReconcilerRegistry


class FakeClient:
    """Answers ``desired`` from a queue of states; records the calls."""

    def __init__(self, *states: DesiredState) -> None:
        self.states = list(states)
        self.calls: list[tuple[int, str, float]] = []
        self.released = threading.Event()
        self.registrations: list[HostRegistration] = []

    def desired(self, host_id: str, generation: int, digest: str, wait: float) -> DesiredState:
        self.calls.append((generation, digest, wait))
        if not self.states:
            self.released.wait(wait)
            return DesiredState(generation, digest, changed=False)
        state = self.states.pop(0)
        if isinstance(state, Exception):
            raise state
        return state

    def register(self, registration: HostRegistration) -> None:
        self.registrations.append(registration)

    def heartbeat(self, beat: Any) -> bool:
        return True

    def release(self, host_id: str) -> None:
        self.released.set()


class Recorder:
    def __init__(self, fail: int = 0, retry: bool = False) -> None:
        self.seen: list[tuple[str, Any]] = []
        self.fail = fail
        self.wants_retry = retry
        self.closed = False

    def reconcile(self, desired: Any) -> None:
        self.seen.append(("reconcile", desired))
        if self.fail:
            self.fail -= 1
            raise RuntimeError("boom")

    def close(self) -> None:
        self.closed = True


class Repairing(Recorder):
    def repair(self, desired: Any) -> None:
        self.seen.append(("repair", desired))


def registration() -> HostRegistration:
    return HostRegistration("h-1", "box", "home-1a", 2, 1024, 10, "none", "test")


def service(tmp_path: Path, client: FakeClient, registry: ReconcilerRegistry, **options: Any) -> AgentService:
    return AgentService(client, registration(), registry, tmp_path, **options)  # type: ignore[arg-type]


def state(generation: int, digest: str, **sections: Any) -> DesiredState:
    return DesiredState(generation, digest, True, sections)


def test_sections_go_to_their_reconcilers_in_order_and_only_when_changed(tmp_path: Path) -> None:
    order: list[str] = []
    network, instances = Recorder(), Recorder()
    network.reconcile = lambda d: order.append("network")  # type: ignore[method-assign]
    instances.reconcile = lambda d: order.append("instances")  # type: ignore[method-assign]
    registry = ReconcilerRegistry()
    registry.add("network", network)
    registry.add("instances", instances)
    client = FakeClient(state(1, "a", instances=[1], network={"vpcs": [], "generation": 1}),
                        state(2, "b", instances=[1], network={"vpcs": [], "generation": 2}),
                        state(3, "c", instances=[2], network={"vpcs": [], "generation": 3}),
                        DesiredState(3, "c", changed=False))
    agent = service(tmp_path, client, registry)
    for _ in range(4):
        agent.sync(1.0)
    # generation 2 changed nothing but the network document's own counter: nobody is called again
    assert order == ["network", "instances", "instances"]
    assert client.calls[1][:2] == (1, "a") and client.calls[3][:2] == (3, "c")
    status = (tmp_path / "status.json").read_text()
    assert '"generation": 3' in status and '"instances"' in status


def test_section_key_ignores_the_network_documents_generation() -> None:
    assert section_key({"vpcs": [1], "generation": 1}) == section_key({"vpcs": [1], "generation": 9})
    assert section_key({"vpcs": [1]}) != section_key({"vpcs": [2]})


def test_a_failing_section_is_retried_with_growing_delay_and_does_not_stop_the_others(tmp_path: Path) -> None:
    broken, fine = Recorder(fail=2), Recorder()
    registry = ReconcilerRegistry()
    registry.add("network", broken)
    registry.add("instances", fine)
    agent = service(tmp_path, FakeClient(state(1, "a", network={"x": 1}, instances={"y": 1})), registry)
    agent.sync(1.0)
    assert agent.failures == {"network": 1} and len(fine.seen) == 1
    assert agent.next_wait() == 2.0
    agent.reconcile()
    assert agent.next_wait() == 4.0
    agent.reconcile()
    assert agent.failures == {} and len(broken.seen) == 3 and len(fine.seen) == 1
    assert agent.next_wait() == loop.LONG_POLL_SECONDS


def test_pending_work_shortens_the_long_poll(tmp_path: Path) -> None:
    waiting = Recorder(retry=True)
    registry = ReconcilerRegistry()
    registry.add("network", waiting)
    agent = service(tmp_path, FakeClient(), registry)
    assert agent.next_wait() == loop.RETRY_SECONDS
    waiting.wants_retry = False
    assert agent.next_wait() == loop.LONG_POLL_SECONDS


def test_drift_repair_calls_repair_when_due(tmp_path: Path) -> None:
    now = [0.0]
    network, other = Repairing(), Recorder()
    registry = ReconcilerRegistry()
    registry.add("network", network)
    registry.add("instances", other)
    agent = service(tmp_path, FakeClient(state(1, "a", network={"n": 1}, instances={"i": 1}),
                                         DesiredState(1, "a", changed=False)),
                    registry, repair_interval=300, clock=lambda: now[0])
    agent.sync(1.0)
    assert agent.next_wait() == loop.LONG_POLL_SECONDS
    now[0] = 290.0
    assert agent.next_wait() == 10.0  # the long-poll ends in time for the repair
    now[0] = 301.0
    agent.sync(0.0)
    assert network.seen == [("reconcile", {"n": 1}), ("repair", {"n": 1})]
    assert other.seen == [("reconcile", {"i": 1}), ("reconcile", {"i": 1})]  # no repair(): reconcile again
    assert agent.last_repair == 301.0


def test_run_registers_stops_on_request_and_closes_without_teardown(tmp_path: Path) -> None:
    network = Recorder()
    registry = ReconcilerRegistry()
    registry.add("network", network)
    client = FakeClient(state(1, "a", network={"n": 1}))
    agent = service(tmp_path, client, registry, heartbeat_interval=0.05)
    stop = threading.Event()
    runner = threading.Thread(target=agent.run, args=(stop,))
    runner.start()
    try:
        for _ in range(200):
            if network.seen:
                break
            threading.Event().wait(0.01)
    finally:
        stop.set()
        runner.join(5)
    assert not runner.is_alive()
    assert client.registrations and network.seen == [("reconcile", {"n": 1})]
    assert client.released.is_set() and network.closed


class LateSnapshotClient(FakeClient):
    """A controller whose long-poll began just before the agent's stop: it took its snapshot of the host's
    releases after the first release arrived, so only a later one answers it."""

    def __init__(self) -> None:
        super().__init__()
        self.condition = threading.Condition()
        self.releases = 0

    def desired(self, host_id: str, generation: int, digest: str, wait: float) -> DesiredState:
        with self.condition:
            self.condition.wait_for(lambda: self.releases > 0, wait)
            snapshot = self.releases
            self.condition.wait_for(lambda: self.releases > snapshot, wait)
        return DesiredState(generation, digest, changed=False)

    def release(self, host_id: str) -> None:
        with self.condition:
            self.releases += 1
            self.condition.notify_all()


def test_a_stopping_agent_releases_a_long_poll_that_began_after_its_first_release(tmp_path: Path) -> None:
    client = LateSnapshotClient()
    agent = service(tmp_path, client, ReconcilerRegistry(), heartbeat_interval=0.05)
    stop = threading.Event()
    runner = threading.Thread(target=agent.run, args=(stop,))
    runner.start()
    threading.Event().wait(0.2)
    stop.set()
    runner.join(4)
    assert not runner.is_alive(), "the agent waited out its long-poll"
    assert client.releases >= 2


def test_an_unknown_host_registers_again(tmp_path: Path) -> None:
    agent = service(tmp_path, FakeClient(ControllerError("unknown host", 404)), ReconcilerRegistry())  # type: ignore[arg-type]
    agent.registered.set()
    stop = threading.Event()
    timer = threading.Timer(0.2, stop.set)
    timer.start()
    agent._desired_loop(stop)
    timer.join()
    assert not agent.registered.is_set()


def test_registry_refuses_duplicates_and_objects_without_reconcile() -> None:
    registry = ReconcilerRegistry()
    registry.add("network", Recorder(), capabilities=["vpc-dataplane"])
    registry.add("instances", Recorder(), capabilities=["compute"], hypervisor="qemu")
    with pytest.raises(ValueError):
        registry.add("network", Recorder())
    with pytest.raises(TypeError):
        registry.add("other", object())  # type: ignore[arg-type]
    assert registry.names() == ["network", "instances"]
    assert registry.capabilities() == ["compute", "vpc-dataplane"] and registry.hypervisor() == "qemu"


def context(tmp_path: Path) -> AgentContext:
    return AgentContext("h-1", "home-1a", tmp_path, None, dataplane=False)  # type: ignore[arg-type]


def test_without_root_the_dataplane_is_disabled_with_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    reason = network.dataplane_unavailable()
    assert reason is not None and "not running as root" in reason


def test_one_agent_per_name_prefix(tmp_path: Path) -> None:
    first = network.claim_prefix("cl-x-", tmp_path)
    assert not isinstance(first, str)
    taken = network.claim_prefix("cl-x-", tmp_path)
    assert isinstance(taken, str) and f"pid {os.getpid()}" in taken
    other = network.claim_prefix("cl-y-", tmp_path)
    assert not isinstance(other, str)
    first.close()  # the process ending releases it the same way
    again = network.claim_prefix("cl-x-", tmp_path)
    assert not isinstance(again, str)
    again.close()
    other.close()


def test_a_malformed_answer_does_not_end_the_loop(tmp_path: Path) -> None:
    registry = ReconcilerRegistry()
    network = Recorder()
    registry.add("network", network)
    client = FakeClient(TypeError("missing digest"), state(1, "a", network={"n": 1}))  # type: ignore[arg-type]
    agent = service(tmp_path, client, registry)
    agent.registered.set()
    stop = threading.Event()

    def finish() -> None:
        stop.set()
        client.released.set()  # ends the fake long-poll the loop is in by then

    timer = threading.Timer(1.5, finish)  # the first retry comes after a 1 s backoff
    timer.start()
    agent._desired_loop(stop)
    timer.join()
    assert network.seen == [("reconcile", {"n": 1})]
