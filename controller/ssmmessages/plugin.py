"""``session-manager-plugin``: what ``aws ssm start-session`` runs once StartSession has answered.

The AWS CLI calls the plugin as AWS's installs it (awscli/customizations/sessionmanager.py)::

    session-manager-plugin --version
    session-manager-plugin <answer, or the name of the variable holding it> <region> StartSession <profile>
                           <StartSession's parameters as JSON> <endpoint URL>

Cloudlet installs this one in its virtualenv, so the stock CLI opens Session Manager shells and port forwards
against a Cloudlet cloud unchanged. A shell puts a terminal in raw mode and follows its size; with no terminal
(input from a pipe) the input is sent as it comes and its end is typed as Ctrl-D once the shell is quiet. A port forward listens on
``localPortNumber`` and carries each accepted connection over a session of its own (the first one is the
answer the CLI got; each further connection starts another with the same parameters, as the plugin's basic
port forwarding does), until interrupted.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import termios
import threading
import time
import tty
from collections.abc import Callable
from typing import Any

from controller.ssmmessages.client import PLUGIN_VERSION, DataChannel

#: With input from a pipe: how long the shell must have been silent before its end is typed as Ctrl-D.
_QUIET_SECONDS = 0.4
_PORT_DOCUMENTS = ("AWS-StartPortForwardingSession", "AWS-StartPortForwardingSessionToRemoteHost")


def run_shell(session: dict[str, str], stdin: int = 0) -> int:
    """An interactive session on this process's terminal (or pipes) until the agent closes it."""
    channel = DataChannel(session["StreamUrl"], session["TokenValue"])
    print(f"\nStarting session with SessionId: {session['SessionId']}\n", file=sys.stderr, flush=True)
    terminal = os.isatty(stdin)
    saved = termios.tcgetattr(stdin) if terminal else None

    def send_size(*_: object) -> None:
        size = os.get_terminal_size(stdin) if terminal else os.terminal_size((80, 24))
        channel.send_size(size.columns, size.lines)

    last_output = [time.monotonic()]

    def pump_input() -> None:
        with contextlib.suppress(OSError, RuntimeError):
            while data := os.read(stdin, 4096):
                channel.send_input(data)
            # The pipe ended: type Ctrl-D as a terminal would, once the shell has gone quiet (a Ctrl-D typed
            # while a command still runs is lost when the shell takes the terminal back), until it exits.
            while not terminal:
                if time.monotonic() - last_output[0] >= _QUIET_SECONDS:
                    channel.send_input(b"\x04")
                    last_output[0] = time.monotonic()
                time.sleep(_QUIET_SECONDS / 4)

    try:
        if terminal:
            tty.setraw(stdin)
            signal.signal(signal.SIGWINCH, send_size)
        send_size()
        threading.Thread(target=pump_input, name="session-input", daemon=True).start()
        for data in channel.output():
            last_output[0] = time.monotonic()
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
    finally:
        if saved is not None:
            termios.tcsetattr(stdin, termios.TCSADRAIN, saved)
        channel.close()
    print(f"\n\nExiting session with sessionId: {session['SessionId']}.\n", file=sys.stderr, flush=True)
    return 0


def _relay(connection: socket.socket, session: dict[str, str]) -> None:
    """One forwarded connection over one session, both ways, until either side ends."""
    channel = DataChannel(session["StreamUrl"], session["TokenValue"])

    def upward() -> None:
        with contextlib.suppress(OSError, RuntimeError):
            while data := connection.recv(65536):
                channel.send_input(data)
            channel.send_flag("TerminateSession")

    threading.Thread(target=upward, name="forward-upward", daemon=True).start()
    try:
        for data in channel.output():
            connection.sendall(data)
    except OSError:
        pass
    finally:
        channel.close()
        connection.close()


def forward_port(first: dict[str, str], local_port: int, start_session: Callable[[], dict[str, str]],
                 stop: threading.Event) -> int:
    """Listen on 127.0.0.1:``local_port`` and carry each connection over a session until ``stop``."""
    listener = socket.create_server(("127.0.0.1", local_port))
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    print(f"\nStarting session with SessionId: {first['SessionId']}\nPort {port} opened for sessionId "
          f"{first['SessionId']}.\nWaiting for connections...\n", flush=True)
    pending: dict[str, str] | None = first
    with listener:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            print("Connection accepted for session.", flush=True)
            session, pending = pending or start_session(), None
            threading.Thread(target=_relay, args=(connection, session), daemon=True).start()
    return 0


def _session_starter(region: str, profile: str, endpoint: str, parameters: dict[str, Any]) -> Callable[[], Any]:
    def start() -> dict[str, str]:
        import botocore.session

        client = botocore.session.Session(profile=profile or None).create_client(
            "ssm", region_name=region, endpoint_url=endpoint)
        return client.start_session(**parameters)
    return start


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--version"]:
        print(PLUGIN_VERSION)
        return 0
    if len(args) < 6 or args[2] != "StartSession":
        print("usage: session-manager-plugin ANSWER REGION StartSession PROFILE PARAMETERS ENDPOINT "
              "(the AWS CLI runs it: aws ssm start-session --target ...)", file=sys.stderr)
        return 1
    answer, region, _, profile, parameters_json, endpoint = args[:6]
    session = json.loads(os.environ.get(answer, answer))
    parameters = json.loads(parameters_json)
    if parameters.get("DocumentName") in _PORT_DOCUMENTS:
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        local_port = int((parameters.get("Parameters", {}).get("localPortNumber") or ["0"])[0])
        return forward_port(session, local_port, _session_starter(region, profile, endpoint, parameters), stop)
    return run_shell(session)


if __name__ == "__main__":
    sys.exit(main())
