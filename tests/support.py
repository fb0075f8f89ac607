"""Running a real Cloudlet for tests: ``cloudlet up`` in a subprocess on a free port."""

from __future__ import annotations

import configparser
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config as BotoConfig

from controller.protocol.models import PRIVATE_MODELS, load_service_model

REPO = Path(__file__).resolve().parent.parent
READY = re.compile(r"ready: endpoint (\S+) region (\S+) account (\d{12})")
#: The built-in images test clouds register: the tiny AMI (a link to images/out/tiny), the one image the tests
#: launch and the one ``make test`` builds. Other images an operator built under images/out (debian-cloud,
#: ~630 MB) would otherwise be copied into every test cloud's data dir at each start, seconds each.
TEST_BUILTIN_IMAGES = REPO / "tests" / "data" / "built-images"


@dataclass
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None


class CloudletProcess:
    """A ``cloudlet up`` child process; start, restart and stop it like an operator would."""

    def __init__(self, data_dir: Path, *, agent: bool = False, extra_env: dict[str, str] | None = None,
                 listen_host: str = "127.0.0.1", repo: Path = REPO) -> None:
        self.data_dir = data_dir
        #: The source tree ``cloudlet up`` runs from (an older release's, for the migration tests).
        self.repo = repo
        self.listen_host = listen_host
        self.agent = agent
        # An agent builds real namespaces: each test cloud gets a prefix of its own (so runs never
        # collide) and :meth:`stop` removes what it built.
        self.extra_env = {"CLOUDLET_AGENT_NAME_PREFIX": f"c{uuid.uuid4().hex[:3]}-"} if agent else {}
        self.extra_env.update(extra_env or {})
        self.proc: subprocess.Popen[str] | None = None
        self.endpoint = ""
        self.region = ""
        self.account_id = ""
        self.port = 0
        self.output: list[str] = []

    def start(self, timeout: float = 60) -> CloudletProcess:
        listen = f"{self.listen_host}:{self.port}"
        cmd = [sys.executable, "-m", "controller.cli", "up", "--data-dir", str(self.data_dir), "--listen", listen]
        if not self.agent:
            cmd.append("--no-agent")
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.extra_env}
        self._register_test_images()
        self._choose_test_database()
        self.proc = subprocess.Popen(cmd, cwd=self.repo, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=env)
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        try:
            for line in self.proc.stdout:
                self.output.append(line)
                match = READY.search(line)
                if match:
                    self.endpoint, self.region, self.account_id = match.groups()
                    self.port = int(self.endpoint.rsplit(":", 1)[1])
                    break
                if time.monotonic() > deadline:
                    break
            else:
                raise RuntimeError("cloudlet up exited before ready:\n" + "".join(self.output[-50:]))
        except BaseException:  # interrupted (SIGTERM, Ctrl-C) or failed: what it started goes too
            self.stop()
            raise
        if not self.endpoint:
            self.stop()
            raise RuntimeError("cloudlet up not ready in time:\n" + "".join(self.output[-50:]))
        threading.Thread(target=self._drain, daemon=True).start()
        return self

    def _register_test_images(self) -> None:
        """Point the cloud's ``cloudlet.json`` at :data:`TEST_BUILTIN_IMAGES`, unless the test chose images."""
        config_file = self.data_dir / "cloudlet.json"
        settings = json.loads(config_file.read_text()) if config_file.exists() else {}
        if "builtin_images_dir" not in settings:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            config_file.write_text(json.dumps({**settings, "builtin_images_dir": str(TEST_BUILTIN_IMAGES)}))

    def _choose_test_database(self) -> None:
        """With ``CLOUDLET_TEST_DATABASE=postgresql``, give a new cloud a database of its own on the test run's
        PostgreSQL cluster (``tests/postgres_lab.py``), unless the test chose one; SQLite otherwise."""
        from tests import postgres_lab

        config_file = self.data_dir / "cloudlet.json"
        settings = json.loads(config_file.read_text())
        if postgres_lab.test_clouds_on_postgres() and "database_url" not in settings:
            url = postgres_lab.shared_cluster().create_database()
            config_file.write_text(json.dumps({**settings, "database_url": url}))

    def _drain(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)
            del self.output[:-2000]

    def stop(self, sig: int = signal.SIGINT, *, teardown: bool = True) -> int:
        """Stop ``cloudlet up``; with an agent, also remove its dataplane unless ``teardown=False``.

        (``restart`` keeps the dataplane, as an operator's restart does.)
        """
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        self.proc = None
        if self.agent and teardown:
            self._tear_down_dataplane()
        return code

    def _tear_down_dataplane(self, patience: float = 20.0) -> None:
        """``cloudlet-agent --teardown`` for this cloud's prefix. It refuses while the agent still holds the
        prefix (stopped during its own start, the agent may outlive ``cloudlet up`` by a few seconds)."""
        deadline = time.monotonic() + patience
        while True:
            done = subprocess.run([sys.executable, "-m", "agent.main", "--teardown", "--name-prefix",
                                   self.extra_env["CLOUDLET_AGENT_NAME_PREFIX"]], cwd=REPO, capture_output=True,
                                  text=True, timeout=60)
            if "another agent" not in done.stderr + done.stdout or time.monotonic() > deadline:
                return
            time.sleep(0.5)

    def restart(self) -> CloudletProcess:
        self.stop(teardown=False)
        return self.start()

    def query_state(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """The rows of ``sql`` (``?`` placeholders) read from the cloud's state store, SQLite's file or its
        PostgreSQL database: what a test checks behind the API (also after the cloud was killed)."""
        from controller.config import Config
        from controller.state import Database

        db = Database(Config.load(self.data_dir).state_location)
        try:
            with db.read() as conn:
                return [tuple(row) for row in conn.exec_driver_sql(sql, params)]
        finally:
            db.close()

    @property
    def aws_config_file(self) -> Path:
        return self.data_dir / "aws" / "config"

    @property
    def aws_credentials_file(self) -> Path:
        return self.data_dir / "aws" / "credentials"

    def root_credentials(self) -> Credentials:
        parser = configparser.ConfigParser()
        parser.read(self.aws_credentials_file)
        section = parser["cloudlet"]
        return Credentials(section["aws_access_key_id"], section["aws_secret_access_key"])

    def client(self, service: str, credentials: Credentials | None = None, **config: Any) -> Any:
        """A boto3 client for this cloud, as the root user unless other credentials are given."""
        creds = credentials or self.root_credentials()
        return boto3.client(
            service, endpoint_url=self.endpoint, region_name=self.region,
            aws_access_key_id=creds.access_key_id, aws_secret_access_key=creds.secret_access_key,
            aws_session_token=creds.session_token,
            config=BotoConfig(retries={"max_attempts": 1}, **config))

    def cli_env(self) -> dict[str, str]:
        """Environment for running the stock AWS CLI against this cloud with profile ``cloudlet``."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(AWS_CONFIG_FILE=str(self.aws_config_file), AWS_SHARED_CREDENTIALS_FILE=str(self.aws_credentials_file),
                   AWS_PROFILE="cloudlet", AWS_PAGER="")
        return env

    def aws(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``aws ARGS...`` (the AWS CLI from the virtualenv) against this cloud."""
        aws = Path(sys.executable).parent / "aws"
        return subprocess.run([str(aws), *args], env=self.cli_env(), capture_output=True, text=True, check=check,
                              timeout=120)


def client_models(directory: Path) -> str:
    """``AWS_DATA_PATH`` for boto3 and the AWS CLI to know the calls AWS keeps out of its public models, as the
    controller does: the ec2messages model, and ssm's and ecs's models with the agents' operations merged in
    (written to ``directory``)."""
    for service in ("ssm", "ecs"):
        model = load_service_model(service)
        target = directory / service / model.api_version / "service-2.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(model._service_description))
    return os.pathsep.join([str(directory), str(PRIVATE_MODELS)])


def kill_under_load(cloud: CloudletProcess, work: Callable[[threading.Event], None], threads: int,
                    seconds: float = 2.0) -> None:
    """Run ``work(stop)`` on ``threads`` client threads, SIGKILL ``cloud`` after ``seconds`` of it, then set
    ``stop`` and wait for them: what they saw acknowledged before the kill is what must survive it."""
    stop = threading.Event()
    workers = [threading.Thread(target=work, args=(stop,)) for _ in range(threads)]
    for worker in workers:
        worker.start()
    time.sleep(seconds)
    cloud.stop(signal.SIGKILL)
    stop.set()
    for worker in workers:
        worker.join(timeout=30)


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.25) -> Any:
    """Poll ``predicate`` until it returns something truthy, and return that; fail naming ``what`` after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
