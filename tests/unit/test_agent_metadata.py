"""The agent's metadata provider: per-interface cache, credential expiry, stale answers while offline;
and the pure parts of namespace-instance addressing."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import pytest

from agent.network.imds import Caller
from agent.service import metadata
from agent.service.metadata import ControllerMetadata, cache_entry, credential_expirations
from agent.service.namespaces import address_changes, wanted
from controller.hosts.rpc import metadata_json

NOW = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)
CALLER = Caller("vpc-1", "eni-1", "i-1", "10.0.1.10")


def payload(expires_in: float | None = None, ttl: float | None = None) -> dict[str, Any]:
    tree: dict[str, Any] = {"instance-id": "i-1", "iam": {"security-credentials": {}}}
    if expires_in is not None:
        expiration = (NOW + dt.timedelta(seconds=expires_in)).strftime("%Y-%m-%dT%H:%M:%SZ")
        tree["iam"]["security-credentials"]["role"] = json.dumps({"AccessKeyId": "ASIA", "Expiration": expiration})
    data = metadata_json({"meta_data": tree, "user_data": "#!/bin/sh\necho hi\n", "dynamic": {},
                          **({"ttl_seconds": ttl} if ttl is not None else {})})
    return json.loads(json.dumps(data))  # through JSON, as on the wire


class Controller:
    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.asked = 0

    def __call__(self, eni_id: str) -> dict[str, Any] | None:
        self.asked += 1
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def provider(controller: Controller, clock: list[float]) -> ControllerMetadata:
    return ControllerMetadata(controller, ttl=10.0, clock=lambda: clock[0], wall_clock=lambda: NOW)


def test_wire_form_round_trips_user_data_and_ttl() -> None:
    entry = cache_entry(payload(ttl=3.0), 100.0, NOW)
    assert entry.data is not None and entry.data.user_data == b"#!/bin/sh\necho hi\n"
    assert entry.fresh_until == 103.0 and entry.usable_until is None
    assert payload()["user_data_b64"] == base64.b64encode(b"#!/bin/sh\necho hi\n").decode()


def test_credentials_bound_the_cache_and_are_refetched_before_expiry() -> None:
    assert credential_expirations(cache_entry(payload(3600), 0, NOW).data.meta_data) == [  # type: ignore[union-attr]
        NOW + dt.timedelta(hours=1)]
    far = cache_entry(payload(3600), 0.0, NOW)
    assert far.fresh_until == 10.0 and far.usable_until == 3600.0
    near = cache_entry(payload(metadata.CREDENTIAL_REFRESH_MARGIN + 4), 0.0, NOW)
    assert near.fresh_until == 4.0  # refetched before the margin starts
    due = cache_entry(payload(60), 0.0, NOW)
    assert due.fresh_until == 0.0 and due.usable_until == 60.0


def test_answers_are_cached_per_interface_for_the_ttl() -> None:
    clock = [0.0]
    controller = Controller([payload(), payload(), None])
    serve = provider(controller, clock)
    assert serve(CALLER).meta_data["instance-id"] == "i-1"  # type: ignore[union-attr]
    clock[0] = 9.0
    serve(CALLER)
    assert controller.asked == 1
    clock[0] = 10.5
    serve(CALLER)
    assert controller.asked == 2
    other = Caller("vpc-1", "eni-2", None, "10.0.1.11")
    assert serve(other) is None and serve(other) is None and controller.asked == 3  # negative answers cached too


def test_stale_answers_are_served_offline_only_while_their_credentials_are_valid() -> None:
    clock = [0.0]
    controller = Controller([payload(3600), OSError("refused"), OSError("refused")])
    serve = provider(controller, clock)
    serve(CALLER)
    clock[0] = 20.0
    assert serve(CALLER) is not None  # stale but valid
    clock[0] = 3601.0
    assert serve(CALLER) is None  # expired credentials are never served
    assert controller.asked == 3


def test_forget_drops_interfaces_that_left_the_host() -> None:
    clock = [0.0]
    controller = Controller([payload(), payload()])
    serve = provider(controller, clock)
    serve(CALLER)
    serve.forget({"eni-other"})
    serve(CALLER)
    assert controller.asked == 2


SECTION = [
    {"eni_id": "eni-1", "netns": "ns1", "ifname": "eth0", "addressing": "static", "ipv4": ["10.0.1.10/24"],
     "ipv6": ["2001:db8::10/64"], "gateway": "10.0.1.1", "gateway6": "2001:db8::1"},
    {"eni_id": "eni-2", "netns": "ns2", "ifname": "eth1", "addressing": "dhcp", "ipv4": ["10.0.1.11/24"],
     "ipv6": [], "gateway": "10.0.1.1", "gateway6": None},
    {"eni_id": "eni-3", "netns": "ns3", "addressing": "static", "ipv4": ["10.0.1.12/24"], "ipv6": [],
     "gateway": "10.0.1.1", "gateway6": "2001:db8::1"},
]


def test_only_static_attachments_are_addressed_and_ipv6_gateways_need_an_address() -> None:
    items = wanted(SECTION)
    assert [i.eni_id for i in items] == ["eni-1", "eni-3"]
    assert items[0].addresses == ("10.0.1.10/24", "2001:db8::10/64") and items[0].gateway6 == "2001:db8::1"
    assert items[1].ifname == "eth0" and items[1].gateway6 is None
    assert wanted(None) == []


@pytest.mark.parametrize(("current", "want", "expected"), [
    ({"10.0.1.10/24"}, ("10.0.1.10/24",), ([], [])),
    ({"10.0.1.9/24", "2001:db8:0::10/64"}, ("10.0.1.10/24", "2001:db8::10/64"), (["10.0.1.9/24"], ["10.0.1.10/24"])),
    (set(), ("10.0.1.10/24",), ([], ["10.0.1.10/24"])),
])
def test_address_changes_compare_canonical_forms(current: set[str], want: tuple[str, ...],
                                                 expected: tuple[list[str], list[str]]) -> None:
    assert address_changes(current, want) == expected
