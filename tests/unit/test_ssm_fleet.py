"""Systems Manager's pure cores: Run Command's thresholds and statuses, Session Manager's AgentMessage frames, and the
relay that pairs a session's two data channels."""

from __future__ import annotations

import uuid

import pytest

from controller.ssm import command_documents, command_flow
from controller.ssm.command_flow import Tally, command_status, tally, threshold, to_release
from controller.ssmmessages import agent_message
from controller.ssmmessages.channels import AGENT, CLIENT, MAX_WAITING, SessionChannels


@pytest.mark.parametrize(("value", "targets", "concurrency", "errors"), [
    ("50", 10, 50, 50), ("10%", 50, 5, 5), ("10%", 5, 1, 0), ("0", 9, 1, 0), ("100%", 3, 3, 3), ("33%", 10, 4, 3)])
def test_thresholds_are_counts_or_shares_of_the_targets(value: str, targets: int, concurrency: int,
                                                         errors: int) -> None:
    assert threshold(value, targets, at_least_one=True) == concurrency
    assert threshold(value, targets, at_least_one=False) == errors


@pytest.mark.parametrize("value", ["1", "0", "7%", "10%", "100%", "1000"])
def test_valid_thresholds(value: str) -> None:
    assert command_flow.valid_threshold(value)


@pytest.mark.parametrize("value", ["", "-1", "101%", "0%x", "01", "1.5", "%"])
def test_invalid_thresholds(value: str) -> None:
    assert not command_flow.valid_threshold(value)


def test_release_respects_concurrency_and_stops_past_the_error_threshold() -> None:
    waiting = tally([("Pending", "Pending", False)] * 4)
    assert to_release(waiting, 2, 0) == 2
    running = tally([("InProgress", "In Progress", True)] * 2 + [("Pending", "Pending", False)] * 2)
    assert to_release(running, 2, 0) == 0
    one_done = tally([("Success", "Success", True), ("InProgress", "In Progress", True),
                      ("Pending", "Pending", False), ("Pending", "Pending", False)])
    assert to_release(one_done, 2, 0) == 1
    failed = tally([("Failed", "Failed", True), ("Pending", "Pending", False)])
    assert to_release(failed, 5, 0) == 0 and to_release(failed, 5, 1) == 1


def test_command_status_follows_aws_rules() -> None:
    assert command_status(tally([("Pending", "Pending", True)]), 0, False) == ("Pending", "Pending")
    assert command_status(tally([("InProgress", "In Progress", True)]), 0, False) == ("InProgress", "In Progress")
    assert command_status(tally([("Success", "Success", True)] * 2), 0, False) == ("Success", "Success")
    one_failed = tally([("Success", "Success", True), ("Failed", "Failed", True)])
    assert command_status(one_failed, 0, False) == ("Failed", "Failed")
    assert command_status(one_failed, 1, False) == ("Success", "Success")   # within MaxErrors
    timed_out = tally([("TimedOut", "Execution Timed Out", True)])
    assert (timed_out.errors, command_status(timed_out, 0, False)) == (1, ("Failed", "Failed"))
    undelivered = tally([("TimedOut", command_flow.DELIVERY_TIMED_OUT, True)])
    assert (undelivered.errors, undelivered.delivery_timed_out) == (0, 1)
    assert command_status(undelivered, 0, False) == ("TimedOut", "Delivery Timed Out")
    assert command_status(tally([("InProgress", "In Progress", True)]), 0, True) == ("Cancelling", "Cancelling")
    assert command_status(tally([("Cancelled", "Cancelled", True)]), 0, True) == ("Cancelled", "Cancelled")
    assert command_status(Tally(0, 0, 0, 0, 0, 0, False), 0, False) == ("Success", "Success")


def test_replies_map_to_invocation_statuses() -> None:
    assert command_flow.reply_outcome("InProgress") == ("InProgress", "In Progress")
    assert command_flow.reply_outcome("TimedOut") == ("TimedOut", "Execution Timed Out")
    assert command_flow.reply_outcome("Nonsense") is None


def test_agent_messages_round_trip_with_the_uuid_halves_swapped() -> None:
    message_id = uuid.UUID("01234567-89ab-cdef-0011-223344556677")
    message = agent_message.AgentMessage("input_stream_data", b"ls\n", 7, 1, 0, message_id, 1_700_000_000_000)
    frame = agent_message.encode(message)
    assert frame[:4] == (116).to_bytes(4, "big") and frame[4:36] == b"input_stream_data".ljust(32)
    assert frame[64:80].hex() == "0011223344556677" "0123456789abcdef"
    assert agent_message.decode(frame) == message
    closed = agent_message.decode(agent_message.channel_closed("s-1", "mi-1", "bye"))
    assert closed.message_type == "channel_closed" and b'"SessionId": "s-1"' in closed.payload


def test_a_frame_as_the_npm_client_writes_it_decodes() -> None:
    """ssm-session left-pads the type with NULs and writes a hex prefix where the digest goes."""
    frame = bytearray(agent_message.encode(agent_message.AgentMessage("acknowledge", b"{}")))
    frame[4:36] = b"\x00" * (32 - len(b"acknowledge")) + b"acknowledge"
    frame[80:112] = b"e3b0c44298fc1c149afbf4c8996fb924"
    assert agent_message.decode(bytes(frame)).message_type == "acknowledge"
    with pytest.raises(ValueError):
        agent_message.decode(b"short")


class FakeEnd:
    def __init__(self) -> None:
        self.sent: list[bytes | str] = []
        self.closed = False

    def send(self, message: bytes | str) -> None:
        if self.closed:
            raise ConnectionError("closed")
        self.sent.append(message)

    def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = True


def test_the_relay_pairs_ends_keeps_early_frames_and_follows_the_ends() -> None:
    statuses: list[tuple[str, str]] = []
    channels = SessionChannels(lambda session, status: statuses.append((session, status)))
    client, agent = FakeEnd(), FakeEnd()
    channels.attach("s", CLIENT, client)
    assert channels.relay("s", CLIENT, b"early")      # the agent is not there yet: it waits
    channels.attach("s", AGENT, agent)
    assert agent.sent == [b"early"] and statuses == [("s", "Connected")]
    channels.relay("s", AGENT, b"output")
    assert client.sent == [b"output"]
    channels.detach("s", CLIENT, client)
    assert statuses[-1] == ("s", "Disconnected")
    resumed = FakeEnd()
    channels.attach("s", CLIENT, resumed)
    assert statuses[-1] == ("s", "Connected")
    channels.detach("s", AGENT, agent)
    assert statuses[-1] == ("s", "Terminated") and resumed.closed


def test_a_replaced_client_does_not_disconnect_the_session() -> None:
    statuses: list[tuple[str, str]] = []
    channels = SessionChannels(lambda session, status: statuses.append((session, status)))
    old, new, agent = FakeEnd(), FakeEnd(), FakeEnd()
    channels.attach("s", AGENT, agent)
    channels.attach("s", CLIENT, old)
    channels.attach("s", CLIENT, new)
    assert old.closed
    channels.detach("s", CLIENT, old)                  # the old one's handler ends after it was replaced
    assert statuses[-1] == ("s", "Connected")


def test_terminate_tells_both_ends_and_too_much_waiting_fails() -> None:
    channels = SessionChannels(lambda session, status: None)
    client, agent = FakeEnd(), FakeEnd()
    channels.attach("s", CLIENT, client)
    channels.attach("s", AGENT, agent)
    channels.terminate("s", "mi-1")
    for end in (client, agent):
        assert end.closed and agent_message.decode(end.sent[-1]).message_type == "channel_closed"
    lonely = FakeEnd()
    channels.attach("t", CLIENT, lonely)
    assert all(channels.relay("t", CLIENT, b"x") for _ in range(MAX_WAITING))
    assert not channels.relay("t", CLIENT, b"x")


GREET = {"schemaVersion": "2.2", "description": "greet", "parameters": {
    "name": {"type": "String", "default": "world", "allowedPattern": "^[a-z]+$"},
    "extra": {"type": "StringList", "default": ["true"]},
    "mode": {"type": "String", "default": "plain", "allowedValues": ["plain", "loud"]}},
    "mainSteps": [{"action": "aws:runShellScript", "name": "greet", "inputs": {
        "runCommand": ["echo hello {{ name }} ({{mode}})", "{{ extra }}"], "workingDirectory": "/tmp",
        "timeoutSeconds": "30"}}]}


def test_a_command_document_becomes_shell_work_with_its_parameters() -> None:
    assert command_documents.shell_work(GREET, {}) == {
        "commands": ["echo hello world (plain)", "true"], "workingDirectory": ["/tmp"], "executionTimeout": ["30"]}
    work = command_documents.shell_work(GREET, {"name": ["ada"], "extra": ["uname", "id"], "mode": ["loud"]})
    assert work["commands"] == ["echo hello ada (loud)", "uname", "id"]


@pytest.mark.parametrize(("given", "problem"), [
    ({"nope": ["x"]}, "not defined"), ({"name": ["Ada!"]}, "allowedPattern"), ({"mode": ["quiet"]}, "one of")])
def test_bad_parameters_for_a_command_document(given: dict[str, list[str]], problem: str) -> None:
    with pytest.raises(command_documents.InvalidParameters, match=problem):
        command_documents.shell_work(GREET, given)


def test_required_parameters_and_unsupported_steps() -> None:
    required = {**GREET, "parameters": {"name": {"type": "String"}}}
    with pytest.raises(command_documents.InvalidParameters, match="required"):
        command_documents.shell_work(required, {})
    other = {**GREET, "mainSteps": [{"action": "aws:runPowerShellScript", "inputs": {"runCommand": ["dir"]}}]}
    with pytest.raises(command_documents.InvalidDocument):
        command_documents.shell_work(other, {})
    legacy = {"schemaVersion": "1.2", "runtimeConfig": {"aws:runShellScript": {"properties": [
        {"runCommand": ["echo one"], "workingDirectory": ""}]}}}
    assert command_documents.shell_work(legacy, {})["commands"] == ["echo one"]
