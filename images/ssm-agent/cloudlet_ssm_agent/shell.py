"""SSM-SessionManagerRunShell on the agent's side: a login shell on a pseudo-terminal, with the account's
session preferences applied as AWS's agent applies them: the transcript logged to S3 and CloudWatch Logs
(:mod:`.session_logs`), the idle timeout and maximum duration (enforced by :class:`.channel.Session`), the
RunAs user, and the shell profile's commands typed before the client's.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import pwd
import signal
import ssl
import struct
import termios
import threading
import time
from dataclasses import dataclass

from . import log
from .channel import OUTPUT_CHUNK, Session, SessionRefused, SessionRequest
from .destinations import AwsAccess
from .preferences import SessionPreferences
from .session_logs import SessionLog

#: How long the shell's processes get to exit on SIGHUP before SIGKILL (the websocket's close handshake runs
#: meanwhile): short, as stopping the agent ends every session within about a second, yet long enough for
#: exit traps to run (a SIGKILLed startup script can leave a lock behind, as pyenv's rehash does).
HANGUP_WAIT_SECONDS = 0.5
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def login_shell(program: str | None = None) -> list[str]:
    """``program`` (a user's login shell), else bash if there is one, else sh; argv[0] starting with ``-``
    makes any of them a login shell (profile read, as after ssh), ``-i`` an interactive one with a prompt,
    also busybox's sh."""
    if program is None:
        program = "/bin/bash" if os.access("/bin/bash", os.X_OK) else "/bin/sh"
    return [program, "-" + os.path.basename(program), "-i"]


def is_login_shell(program: str) -> bool:
    """Whether /etc/shells lists ``program`` (and it runs): a service account's nologin is no shell."""
    try:
        with open("/etc/shells") as listed:
            shells = {line.strip() for line in listed if line.strip() and not line.startswith("#")}
    except OSError:
        return False
    return program in shells and os.access(program, os.X_OK)


def account_home_and_name() -> tuple[str, str]:
    """The home the shell starts in: the agent's $HOME when its service manager set one (as login tools and
    Python's expanduser prefer it), else the account's passwd entry; and the account's name."""
    try:
        account = pwd.getpwuid(os.getuid())
        home, user = account.pw_dir, account.pw_name
    except KeyError:  # a uid without a passwd entry (containers)
        home, user = "", str(os.getuid())
    return os.environ.get("HOME") or home or "/", user


@dataclass(frozen=True)
class Account:
    """Who the shell runs as: the agent's own user (``uid`` None: nothing to switch), or a RunAs user."""

    name: str
    home: str
    argv: list[str]
    uid: int | None = None
    gid: int = -1
    groups: tuple[int, ...] = ()


def agent_account() -> Account:
    home, user = account_home_and_name()
    return Account(user, home, login_shell())


def run_as_account(name: str) -> Account:
    """A RunAs user from the passwd database: its ids, its groups (looked up here, as the forked child must
    not touch NSS), its home, and its login shell, or the agent's default shell for an account whose shell is
    no shell (``nobody``'s nologin), as AWS's agent starts sh whatever the user's shell. KeyError if there is
    no such user."""
    entry = pwd.getpwnam(name)
    shell = entry.pw_shell if is_login_shell(entry.pw_shell) else None
    return Account(entry.pw_name, entry.pw_dir or "/", login_shell(shell), entry.pw_uid, entry.pw_gid,
                   tuple(os.getgrouplist(entry.pw_name, entry.pw_gid)))


def shell_environment(home: str, user: str, shell: str) -> dict[str, str]:
    """A fresh environment, as a login gives: the agent's own (its service's settings) stays out."""
    environment = {"HOME": home, "USER": user, "LOGNAME": user, "SHELL": shell, "TERM": "xterm-256color",
                   "PATH": os.environ.get("PATH") or DEFAULT_PATH}
    for name in ("LANG", "LC_ALL", "TZ"):
        if os.environ.get(name):
            environment[name] = os.environ[name]
    return environment


class ShellSession(Session):
    """SSM-SessionManagerRunShell: a login shell on a pseudo-terminal, as the agent's user or a RunAs user."""

    input_waits_for_output = True

    def __init__(self, request: SessionRequest, instance_id: str, ssl_context: ssl.SSLContext | None,
                 access: AwsAccess | None = None) -> None:
        super().__init__(request, instance_id, ssl_context, access)
        self.preferences = SessionPreferences.from_inputs(request.inputs)
        self.idle_seconds, self.max_seconds = self.preferences.idle_seconds, self.preferences.max_seconds
        self.session_log: SessionLog | None = None
        self.pid = 0
        self.master_fd = -1
        self.exit_status: int | None = None  # set once reaped
        self.hangup_deadline = 0.0
        self.local_lock = threading.Lock()  # the reader resizes and writes while run() reads and closes

    def account(self) -> Account:
        """The RunAs user when the preferences enable it and the agent may switch users (it runs as root, as
        AWS's agent does); else the agent's own user. SessionRefused when the RunAs user is missing."""
        if not self.preferences.run_as_enabled:
            return agent_account()
        if os.geteuid() != 0:
            account = agent_account()
            log(f"session {self.session_id}: runAsEnabled is ignored: the agent does not run as root, so the "
                f"shell runs as {account.name}")
            return account
        name = self.preferences.run_as_user
        if not name:
            raise SessionRefused("Unable to start command: please set the RunAs default user")
        try:
            return run_as_account(name)
        except KeyError:
            raise SessionRefused(f"Unable to start command: failed to start pty since RunAs user {name} does "
                                 "not exist") from None

    def open_local(self) -> None:
        account = self.account()
        program, *argv = account.argv
        environment = shell_environment(account.home, account.name, program)
        pid, master_fd = pty.fork()
        if pid == 0:  # the child: nothing but syscalls and exec, as other threads' locks were copied mid-use
            try:
                if account.uid is not None:  # groups, then group, then user: each needs root's rights
                    with contextlib.suppress(OSError):
                        os.fchown(0, account.uid, -1)  # its terminal is its own, as after login
                    os.setgroups(list(account.groups))
                    os.setgid(account.gid)
                    os.setuid(account.uid)
                os.chdir(account.home if os.path.isdir(account.home) else "/")
                os.execve(program, argv, environment)
            finally:
                os.write(2, f"cannot start {program} as {account.name}\r\n".encode())
                os._exit(127)
        self.pid, self.master_fd = pid, master_fd
        self.resize(80, 24)  # until the client says its size: a 0x0 terminal breaks full-screen programs
        self.start_logging(account)

    def start_logging(self, account: Account) -> None:
        """Keeps a transcript when the preferences send it somewhere (and says where, with the user)."""
        if not self.preferences.logs_anywhere:
            if account.uid is not None:
                log(f"session {self.session_id}: shell runs as {account.name}")
            return
        if self.access is None:
            log(f"session {self.session_id}: not logged: this agent cannot reach S3 or CloudWatch Logs")
            return
        self.session_log = SessionLog(self.session_id, self.preferences, self.access)
        self.session_log.start()
        log(f"session {self.session_id}: shell runs as {account.name}, "
            f"logged to {self.session_log.describe()}")

    def before_input(self) -> None:
        """The shell profile's commands, typed into the shell before anything the client types, as AWS's agent
        writes them (a failure is logged: the shell is still there)."""
        if self.preferences.shell_profile:
            try:
                self.write_local((self.preferences.shell_profile + "\n").encode())
            except OSError as error:
                log(f"session {self.session_id}: the shell profile could not be run: {error}")

    def record_output(self, data: bytes) -> None:
        if self.session_log is not None:
            self.session_log.record(data)

    def finish(self) -> None:
        """The session's end, then its transcript to its destinations: the client is not kept waiting."""
        super().finish()
        if self.session_log is not None:
            try:
                self.session_log.finish()
            except Exception as error:  # logging must never break the session's end
                log(f"session {self.session_id}: the transcript could not be stored: {error!r}")

    def local_failure(self) -> str:
        return "Failed to start a shell"

    def local_fileno(self) -> int:
        return self.master_fd

    def read_local(self) -> bytes:
        return os.read(self.master_fd, OUTPUT_CHUNK)

    def write_local(self, data: bytes) -> None:
        with self.local_lock:
            view = memoryview(data)
            while view and self.master_fd >= 0:
                written = os.write(self.master_fd, view)
                view = view[written:]

    def resize(self, cols: int, rows: int) -> None:
        if cols <= 0 or rows <= 0:
            return
        with self.local_lock:
            if self.master_fd >= 0:
                fcntl.ioctl(self.master_fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def exit_code(self) -> int | None:
        """The shell's exit code once it exited, read without reaping it: until :meth:`close_local` reaps it
        its pid stays taken, so its process group id can never name a stranger's group when we signal it."""
        if self.exit_status is not None or not self.pid:
            return self.exit_status
        try:
            info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return None
        if info is None:
            return None
        return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status

    def local_ended(self) -> bool:
        return self.exit_code() is not None

    def local_end_reason(self) -> str:
        code = self.exit_code()
        deadline = time.monotonic() + HANGUP_WAIT_SECONDS
        while code is None and time.monotonic() < deadline:  # the terminal closes just before the shell exits
            time.sleep(0.01)
            code = self.exit_code()
        return "the shell exited" + (f" ({code})" if code is not None else "")

    def hang_up_local(self) -> None:
        """As a dropped ssh connection does: SIGHUP to the shell's group (an interactive shell passes it on to
        its jobs) and the terminal's master side closed."""
        if not self.pid:
            return
        self.hangup_deadline = time.monotonic() + HANGUP_WAIT_SECONDS
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGHUP)
        with self.local_lock:
            if self.master_fd >= 0:
                os.close(self.master_fd)
                self.master_fd = -1

    def close_local(self) -> None:
        """Waits what is left of the hangup's grace for the shell and everything it started to exit, SIGKILLs
        what did not, and reaps the shell (only now, see :meth:`exit_code`). An interactive shell puts each
        job in a process group of its own, so what belongs to the shell is its session (the pty's
        ``setsid`` made the shell the leader), not its group."""
        if not self.pid or self.exit_status is not None:
            return
        while time.monotonic() < self.hangup_deadline and (
                self.exit_code() is None or session_members(self.pid)):
            time.sleep(0.02)
        for member in [self.pid, *session_members(self.pid)]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(member, signal.SIGKILL)
        _, status = os.waitpid(self.pid, 0)
        self.exit_status = os.waitstatus_to_exitcode(status)


def session_members(session: int) -> list[int]:
    """The live processes (not zombies) of a session other than its leader, from /proc's stat (state, ppid,
    pgrp and session after the command name). Without /proc: none, and the shell's exit is all that is
    waited for."""
    try:
        entries = [entry.name for entry in os.scandir("/proc") if entry.name.isdigit()]
    except OSError:
        return []
    members = []
    for name in entries:
        try:
            with open(f"/proc/{name}/stat", "rb") as stat:
                state, _, _, sid = stat.read().rsplit(b")", 1)[1].split()[:4]
        except (OSError, ValueError):
            continue  # gone meanwhile
        if int(sid) == session and int(name) != session and state not in (b"Z", b"X"):
            members.append(int(name))
    return members
