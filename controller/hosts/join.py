"""Joining a Linux host to the cloud over SSH: what ``cloudlet host add`` checks, writes and starts there.

The pure half reads what a probe script printed (``assess``) and writes what goes to the host: the agent's
command line (``agent_argv``) and, on hosts with systemd, its unit (``systemd_unit``). The edge
(``SshSession``, paramiko) runs the probe, writes files through the shell and starts the agent.

Host keys are trusted on first use, as ``ssh -o StrictHostKeyChecking=accept-new`` does: a host seen for the
first time is recorded (its fingerprint printed for the operator to compare) in the data dir's
``ssh_known_hosts``, and a host whose key changed since is refused.

Given ``--python``, Cloudlet's code must already be on the host (``make install`` or the ansible roles put it
there) and the join checks that it imports. Otherwise the code goes into a virtualenv the join owns
(``/opt/cloudlet/venv``): when the ``cloudlet`` distribution found there is not the controller's own version,
``controller/hosts/agent_install.py`` installs the controller's wheel first.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import shlex
import tarfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import paramiko

#: Where ``host add`` installs Cloudlet on a host that lacks the controller's version of it.
DEFAULT_VENV = "/opt/cloudlet/venv"
DEFAULT_STATE_DIR = "/var/lib/cloudlet/agent"
UNIT_PATH = "/etc/systemd/system/cloudlet-agent.service"
#: The least a host needs beyond what its instances take (the agent, dnsmasq, HAProxy, ganesha).
MIN_FREE_MEMORY_MIB = 512
MIN_FREE_DISK_GIB = 2
#: Pauses before asking again for a channel the server closed unopened (see ``SshSession._exec``).
CHANNEL_RETRIES = (0.2, 0.5, 1.0)

#: Prints one ``key=value`` per fact; everything it runs exists on any Debian/Ubuntu host, or is tested first.
PROBE_SCRIPT = r"""
have() { command -v "$1" >/dev/null 2>&1 && echo yes || echo no; }
echo "arch=$(uname -m)"
echo "kernel=$(uname -r)"
echo "cpus=$(nproc 2>/dev/null || echo 0)"
echo "mem_available_kib=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)"
echo "kvm=$([ -r /dev/kvm ] && [ -w /dev/kvm ] && echo yes || echo no)"
echo "qemu=$(have qemu-system-x86_64)"
echo "libvirt=$([ -S /var/run/libvirt/libvirt-sock ] && echo yes || echo no)"
echo "nft=$(have nft)"
echo "ip=$(have ip)"
echo "dnsmasq=$(have dnsmasq)"
echo "podman=$(have podman)"
echo "systemd=$([ -d /run/systemd/system ] && echo yes || echo no)"
echo "root=$([ "$(id -u)" = 0 ] && echo yes || echo no)"
echo "python_agent=$("$CLOUDLET_PYTHON" -c 'import agent.main as m; print(m.AGENT_VERSION)' 2>/dev/null || echo no)"
echo "python_dist=$("$CLOUDLET_PYTHON" -c 'import importlib.metadata as m; print(m.version("cloudlet"))' 2>/dev/null || echo no)"
mkdir -p "$CLOUDLET_STATE_DIR" 2>/dev/null
echo "disk_free_kib=$(df -Pk "$CLOUDLET_STATE_DIR" 2>/dev/null | awk 'NR == 2 {print $4}')"
echo "host_id=$(cat "$CLOUDLET_STATE_DIR/host-id" 2>/dev/null)"
"""


class JoinError(Exception):
    """A join that cannot go on; the message says what to do."""


@dataclass(frozen=True)
class SshTarget:
    user: str
    host: str
    port: int = 22

    @classmethod
    def parse(cls, text: str) -> SshTarget:
        """``ssh://user@host[:port]`` (``user@host`` alone is accepted too; the user defaults to root)."""
        parts = urlsplit(text if "://" in text else f"ssh://{text}")
        if parts.scheme != "ssh" or not parts.hostname or parts.path not in ("", "/"):
            raise JoinError(f"{text!r} is not an SSH target: write ssh://user@host[:port]")
        try:
            port = parts.port or 22
        except ValueError:
            raise JoinError(f"{text!r} has no valid port") from None
        return cls(parts.username or "root", parts.hostname, port)

    def __str__(self) -> str:
        return f"ssh://{self.user}@{self.host}:{self.port}"


@dataclass(frozen=True)
class Assessment:
    """What the probe found: how instances would run there, what stops the join, what only limits it."""

    hypervisor: str
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    host_id: str | None = None
    systemd: bool = False
    facts: Mapping[str, str] = field(default_factory=dict)


def parse_facts(output: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in output.splitlines() if "=" in line)


def _number(facts: Mapping[str, str], key: str) -> int:
    value = facts.get(key, "")
    return int(value) if value.isdigit() else 0


def assess(facts: Mapping[str, str], python: str, installing: bool = False) -> Assessment:
    """Judge a host from ``PROBE_SCRIPT``'s facts (pure). Problems say what to install or change; an agent
    that does not import is one only when the join is not ``installing`` the code itself."""
    problems, warnings = [], []
    if facts.get("root") != "yes":
        problems.append("the agent needs root (network namespaces, nftables, libvirt): join as root")
    if facts.get("arch") != "x86_64":
        problems.append(f"the host is {facts.get('arch') or 'of an unknown architecture'}; Cloudlet's AMIs "
                        "are x86_64")
    for tool, package in (("ip", "iproute2"), ("nft", "nftables"), ("dnsmasq", "dnsmasq-base")):
        if facts.get(tool) != "yes":
            problems.append(f"`{tool}` is missing: install {package} (ansible/site.yml installs everything)")
    if facts.get("python_agent", "no") == "no" and not installing:
        problems.append(f"{python} cannot import Cloudlet's agent: install Cloudlet there (`make install` in a "
                        "checkout, or the ansible roles) or pass --python with an interpreter that has it")
    kvm = facts.get("kvm") == "yes"
    if facts.get("qemu") != "yes" or facts.get("libvirt") != "yes":
        hypervisor = "none"
        warnings.append("no QEMU or no running libvirtd: the host carries VPC traffic and containers but runs "
                        "no instances (install qemu-system-x86 and libvirt-daemon-system, start libvirtd)")
    else:
        hypervisor = "kvm" if kvm else "tcg"
        if not kvm:
            warnings.append("/dev/kvm is not usable: instances run under TCG emulation, several times slower")
    if facts.get("podman") != "yes":
        warnings.append("podman is missing: Batch jobs will not run here")
    free_mib = _number(facts, "mem_available_kib") // 1024
    if free_mib < MIN_FREE_MEMORY_MIB:
        problems.append(f"only {free_mib} MiB of memory is available; the agent needs {MIN_FREE_MEMORY_MIB} MiB")
    free_gib = _number(facts, "disk_free_kib") // 2**20
    if free_gib < MIN_FREE_DISK_GIB:
        problems.append(f"only {free_gib} GiB is free for the agent's state; it needs {MIN_FREE_DISK_GIB} GiB")
    host_id = facts.get("host_id") or None
    if host_id is not None and not re.fullmatch(r"h-[0-9a-f]{17}", host_id):
        problems.append(f"the host's state dir holds a malformed host id {host_id!r}: remove its host-id file")
    return Assessment(hypervisor, tuple(problems), tuple(warnings), host_id, facts.get("systemd") == "yes",
                      dict(facts))


@dataclass(frozen=True)
class AgentSettings:
    """How the joined host's agent runs: the same flags ``cloudlet up`` gives its local agent."""

    python: str
    controller_url: str
    zone: str
    state_dir: str = DEFAULT_STATE_DIR
    name_prefix: str = "cl-"
    underlay_ip: str | None = None
    #: Where the controller reaches this host (its Lambda runner and Instance Connect tunnels listen there).
    listen_ip: str | None = None

    def joined(self, target: SshTarget) -> dict[str, str]:
        """What ``host remove`` needs later (kept with the host's credential)."""
        return {"ssh_target": str(target), "python": self.python, "state_dir": self.state_dir,
                "name_prefix": self.name_prefix}

    @property
    def token_file(self) -> str:
        return f"{self.state_dir}/agent.token"

    @property
    def log_file(self) -> str:
        return f"{self.state_dir}/agent.log"

    @property
    def pid_file(self) -> str:
        return f"{self.state_dir}/agent.pid"


def agent_argv(settings: AgentSettings) -> list[str]:
    argv = [settings.python, "-m", "agent.main", "--controller", settings.controller_url, "--token-file",
            settings.token_file, "--zone", settings.zone, "--state-dir", settings.state_dir, "--name-prefix",
            settings.name_prefix]
    if settings.underlay_ip:
        argv += ["--underlay-ip", settings.underlay_ip]
    if settings.listen_ip:
        argv += ["--functions-listen", f"{settings.listen_ip}:0", "--tunnel-listen", f"{settings.listen_ip}:0"]
    return argv


def systemd_unit(settings: AgentSettings) -> str:
    """``cloudlet-agent.service``: restarted when it dies, logging to the journal."""
    return "\n".join([
        "[Unit]", "Description=Cloudlet agent", "After=network-online.target libvirtd.service",
        "Wants=network-online.target", "",
        "[Service]", f"ExecStart={shlex.join(agent_argv(settings))}", "Restart=always", "RestartSec=2",
        "KillMode=process", "", "[Install]", "WantedBy=multi-user.target", ""])


def background_start(settings: AgentSettings) -> str:
    """The shell line that starts the agent on a host without systemd: detached, its pid recorded."""
    return (f"setsid {shlex.join(agent_argv(settings))} >> {shlex.quote(settings.log_file)} 2>&1 < /dev/null & "
            f"echo $! > {shlex.quote(settings.pid_file)}")


def stop_background(pid_file: str) -> str:
    """The shell line that stops an agent started without systemd and waits (up to 30 s) until it has ended."""
    quoted = shlex.quote(pid_file)
    return (f"if [ -f {quoted} ]; then pid=$(cat {quoted}); kill -TERM \"$pid\" 2>/dev/null; n=0; "
            f"while kill -0 \"$pid\" 2>/dev/null && [ $n -lt 150 ]; do sleep 0.2; n=$((n+1)); done; "
            f"rm -f {quoted}; fi")


def stop_command(joined: Mapping[str, str], systemd: bool) -> str:
    """Stop the agent a join started, wait for it to end, then clear what it built on the host (namespaces,
    its NFS servers and load balancers): ``host remove`` runs it only once nothing runs there."""
    state_dir, prefix, python = joined["state_dir"], joined["name_prefix"], joined["python"]
    if systemd:
        stop = f"systemctl disable --now cloudlet-agent; rm -f {UNIT_PATH}; systemctl daemon-reload; "
    else:
        stop = stop_background(f"{state_dir}/agent.pid") + "; "
    teardown = shlex.join([python, "-m", "agent.main", "--teardown", "--name-prefix", prefix, "--state-dir",
                           state_dir])
    return stop + teardown


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's ``SHA256:...`` form, for the operator to compare with ``ssh-keygen -lf``."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


class _RecordNewKey(paramiko.MissingHostKeyPolicy):
    """accept-new: remember a host's first key (and tell the operator); paramiko refuses a changed one."""

    def __init__(self, known_hosts: Path, announce: list[str]) -> None:
        self.known_hosts = known_hosts
        self.announce = announce

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        client.get_host_keys().add(hostname, key.get_name(), key)
        client.save_host_keys(str(self.known_hosts))
        self.announce.append(f"trusting {hostname}'s {key.get_name()} key {fingerprint(key)} (first use)")


def _tar_stream(files: Sequence[Path]) -> Iterator[bytes]:
    """An uncompressed tar of ``files`` (by their names alone), in pieces: wheels do not compress further."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w|") as archive:
        for path in files:
            archive.add(path, arcname=path.name)
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


class SshSession:
    """One SSH connection to the host being joined (the edge)."""

    def __init__(self, target: SshTarget, known_hosts: Path, identity: Path | None = None,
                 timeout: float = 15.0) -> None:
        self.target = target
        self.notes: list[str] = []
        self.client = paramiko.SSHClient()
        known_hosts.touch(mode=0o600, exist_ok=True)
        self.client.load_host_keys(str(known_hosts))
        self.client.set_missing_host_key_policy(_RecordNewKey(known_hosts, self.notes))
        try:
            self.client.connect(target.host, port=target.port, username=target.user, timeout=timeout,
                                key_filename=str(identity) if identity else None, allow_agent=identity is None,
                                look_for_keys=identity is None)
        except paramiko.BadHostKeyException as exc:
            raise JoinError(f"{target.host}'s host key changed ({fingerprint(exc.key)}); if that is expected, "
                            f"remove its line from {known_hosts} and join again") from None
        except (paramiko.SSHException, OSError) as exc:
            raise JoinError(f"cannot log in to {target}: {exc}") from None

    def execute(self, command: str, environment: Mapping[str, str] | None = None, timeout: float = 60.0,
                on_line: Callable[[str], None] | None = None) -> tuple[int, str, str]:
        """Run ``command`` through the login shell: its exit status, stdout and stderr. ``on_line`` sees each
        line of stdout as it comes (the progress of a long step)."""
        prefix = "".join(f"{key}={shlex.quote(value)} " for key, value in (environment or {}).items())
        script = f"{prefix}sh -c {shlex.quote(command)}"
        _, stdout, stderr = self._exec(script, timeout)
        with stdout.channel:  # closed after use: servers cap the channels one connection may have open
            lines = []
            for raw in stdout:
                lines.append(raw)
                if on_line is not None:
                    on_line(raw.rstrip("\n"))
            err = stderr.read().decode(errors="replace")
            return stdout.channel.recv_exit_status(), "".join(lines), err

    def run(self, command: str, environment: Mapping[str, str] | None = None, timeout: float = 60.0) -> str:
        """Run ``command`` through the login shell; its stdout, or JoinError with its stderr."""
        status, out, err = self.execute(command, environment, timeout)
        if status != 0:
            raise JoinError(f"`{command.strip().splitlines()[0]}` failed on {self.target.host}: "
                            f"{err.strip() or out.strip()}")
        return out

    def upload(self, files: Sequence[Path], directory: str) -> str:
        """Copy files into a directory on the host: with SFTP (one session for all), or as one tar stream
        through the shell when the server has no SFTP subsystem (dropbear without openssh-sftp-server).
        Says which it was."""
        try:
            sftp = self.client.open_sftp()
        except paramiko.SSHException:
            sftp = None
        if sftp is None:
            self._pipe(f"tar -x -f - -C {shlex.quote(directory)}", _tar_stream(files),
                       f"cannot copy {', '.join(path.name for path in files)} into {directory}", timeout=600)
            return "tar through the shell"
        try:
            for path in files:
                remote = f"{directory}/{path.name}"
                sftp.put(str(path), f"{remote}.partial")
                sftp.posix_rename(f"{remote}.partial", remote)
        except OSError as exc:
            raise JoinError(f"cannot copy files into {directory} on {self.target.host}: {exc}") from None
        finally:
            sftp.close()
        return "SFTP"

    def write(self, path: str, content: str, mode: int = 0o644) -> None:
        """Write a file on the host atomically, through the shell rather than SFTP (small hosts and dropbear
        often have no SFTP server); it is created private and gets ``mode`` only once whole."""
        partial = shlex.quote(f"{path}.partial")
        self._pipe(f"umask 077 && cat > {partial} && chmod {mode:o} {partial} && mv -f {partial} {shlex.quote(path)}",
                   [content.encode()], f"cannot write {path}")

    def _pipe(self, command: str, chunks: Iterable[bytes], failure: str, timeout: float = 30.0) -> None:
        """Feed ``chunks`` to ``command``'s stdin; JoinError starting with ``failure`` if it then fails."""
        stdin, stdout, stderr = self._exec(command, timeout)
        with stdout.channel:
            for chunk in chunks:
                stdin.write(chunk)
            stdin.channel.shutdown_write()
            if stdout.channel.recv_exit_status() != 0:
                raise JoinError(f"{failure} on {self.target.host}: {stderr.read().decode(errors='replace').strip()}")

    def _exec(self, command: str, timeout: float) -> tuple[paramiko.ChannelStdinFile, paramiko.ChannelFile,
                                                            paramiko.ChannelStderrFile]:
        """Open a channel running ``command``. A server may close a new channel unopened while it still winds
        down the previous one (dropbear right after an SFTP session ends): the command never started then, so
        asking again is safe."""
        for delay in CHANNEL_RETRIES:
            try:
                return self.client.exec_command(command, timeout=timeout)
            except paramiko.SSHException:
                transport = self.client.get_transport()
                if transport is None or not transport.is_active():
                    raise JoinError(f"the SSH connection to {self.target.host} was lost; run the command "
                                    "again") from None
                time.sleep(delay)
        return self.client.exec_command(command, timeout=timeout)

    def close(self) -> None:
        self.client.close()


def start_agent(session: SshSession, settings: AgentSettings, assessment: Assessment, host_id: str,
                token: str) -> Sequence[str]:
    """Write the host id, the credential and (with systemd) the unit, then start the agent; what was done."""
    session.run(f"mkdir -p {shlex.quote(settings.state_dir)} && chmod 700 {shlex.quote(settings.state_dir)}")
    session.write(f"{settings.state_dir}/host-id", host_id + "\n")
    session.write(settings.token_file, token + "\n", mode=0o600)
    if assessment.systemd:
        session.write(UNIT_PATH, systemd_unit(settings))
        session.run("systemctl daemon-reload && systemctl enable --now cloudlet-agent && "
                    "systemctl restart cloudlet-agent")
        return [f"wrote {UNIT_PATH}", "systemctl enable --now cloudlet-agent"]
    session.run(stop_background(settings.pid_file), timeout=60)  # an agent of an earlier join gives way first
    session.run(background_start(settings))
    return [f"started the agent without systemd (pid in {settings.pid_file}, log in {settings.log_file})"]
