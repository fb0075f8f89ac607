"""The controller's composition root: configuration, state, credentials, audit and services.

:class:`Cloud` is built once per process and handed to every operation as
``ctx.cloud``; services reach shared facilities through it (never through globals),
so tests can run several independent clouds side by side.
"""

from __future__ import annotations

import importlib
import logging
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controller.audit import AuditTrail
from controller.auth.secrets import SecretBox
from controller.auth.store import CredentialStore
from controller.config import Config
from controller.console import state as _console_state  # noqa: F401  (declares the console's sessions table)
from controller.hosts import state as hosts_state  # also declares the hosts table
from controller.hosts.credentials import AgentCredentials
from controller.hosts.generation import GenerationWatch
from controller.iam.cache import PolicyCache
from controller.state import Database
from controller.state.committer import GroupCommitter
from controller.state.leadership import Leadership, leadership_for

if TYPE_CHECKING:
    from controller.api import Authorizer, ServiceApi

log = logging.getLogger(__name__)

#: Service packages (by botocore model name, except ``awslambda``: ``lambda`` is a keyword, and
#: ``ec2_instance_connect``: ``ec2-instance-connect`` is no module name); each exposes ``api: ServiceApi``.
SERVICE_PACKAGES = ("sts", "ec2", "cloudtrail", "iam", "organizations", "s3", "kms", "sqs", "efs", "sns", "logs",
                    "awslambda", "ec2_instance_connect", "cognito_idp", "cognito_identity", "apigateway",
                    "apigatewayv2", "wafv2", "ssm", "ec2messages", "cloudwatch", "autoscaling", "elbv2", "batch",
                    "ecs")


class Cloud:
    """Everything one controller process shares between requests.

    Per-cloud state has one explicit slot here and nowhere else (no module globals), so several
    clouds can run side by side in one process (tests do) and a reader finds it all in one place.
    """

    def __init__(self, config: Config, *, primary: bool = True) -> None:
        self.config = config
        #: Whether this is the cloud's primary process (``cloudlet up``), which runs the start hooks, every
        #: background worker and every service; ``--workers`` adds API worker processes (``primary=False``)
        #: that serve the services safe to serve anywhere and relay the rest here (controller/workers/).
        self.primary = primary
        config.data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(config.data_dir, 0o700)
        self.services: dict[str, ServiceApi] = load_services()
        self.db = Database(config.state_location)
        self.db.create_schema()
        #: Whether this process runs the cloud's background workers now: always on SQLite's one process, the
        #: elected one of the controllers on a PostgreSQL store (controller/state/leadership.py). Every
        #: worker's loop asks it each round; campaigning starts with :meth:`start`.
        self.leadership: Leadership = leadership_for(self.db.url)
        hosts_state.use_heartbeat_timeout(config.host_heartbeat_timeout_seconds)
        self.secrets = SecretBox(config.data_dir / "secret.key")
        self.credentials = CredentialStore(self.db, self.secrets)
        #: The database's group committer: writes that can be handed over as a function (S3's object versions,
        #: SQS's messages, CloudWatch's datapoints, the audit trail's batches) share one transaction and fsync.
        self.writer = GroupCommitter(self.db)
        self.audit = AuditTrail(self.db, self.writer, config.data_dir / "audit-journal",
                                on_key_use=self.credentials.record_use)
        self.agent_token = private_token(config.data_dir / "agent.token")
        #: The cloud-wide token and the per-host credentials of joined hosts (controller/hosts/credentials.py).
        self.agent_credentials = AgentCredentials(self.db, self.agent_token)
        #: What IAM enforcement gathered per principal and per member account, cleared by IAM and
        #: Organizations writes (controller/iam/cache.py).
        self.policy_cache = PolicyCache.following(self.db)
        #: S3's ``S3Runtime`` (controller/s3/runtime.py: blob store, blob guard, bucket cache, lifecycle
        #: worker): made by S3's start hook (or its first request), closed by its stop hook. Typed loosely
        #: because that module builds on this one.
        self.s3_runtime: Any = None
        #: SQS's ``SqsRuntime`` (controller/sqs/runtime.py: long-poll signals, sweeper, message move tasks),
        #: made on first use, closed by SQS's stop hook.
        self.sqs_runtime: Any = None
        #: Where EBS snapshots' data lives: a blob store of the S3 backend's kind, apart from S3's own blobs
        #: (controller/ec2/volumes/snapshot_store.py, made on first use).
        self.ebs_snapshot_store: Any = None
        #: SNS's delivery worker (controller/sns/worker.py), made by SNS's start hook and stopped by its stop hook.
        self.sns_worker: Any = None
        #: How SNS delivers to endpoints another service serves: protocol -> handler(cloud, subscription,
        #: document, payload) (controller/sns/dispatch.py); Lambda registers "lambda" from its start hook.
        self.sns_delivery_protocols: dict[str, Callable[..., None]] = {}
        #: SNS's message ``Signer`` (controller/sns/signing.py: the signing key, its certificate, recent
        #: signatures), made on first use.
        self.sns_signer: Any = None
        #: CloudWatch Logs' event writer (controller/logs/ingest.py): how services append log events.
        self.logs_writer: Any = None
        #: Lambda's content-addressed store of code, layers and image archives (controller/awslambda/code_store.py).
        self.lambda_code: Any = None
        #: Lambda's invoker (controller/awslambda/invoke/): in-flight counts, connections to hosts' function runners.
        self.lambda_invoker: Any = None
        #: Lambda's asynchronous invocation queue and event source pollers (controller/awslambda/events/).
        self.lambda_events: Any = None
        #: Lambda's cache of resolved targets and decrypted versions (controller/awslambda/records.py), which every
        #: control-plane write clears, so an invoke reads no table and asks KMS nothing when nothing changed.
        self.lambda_lookups: Any = None
        #: API Gateway's cache of REST API stage views (controller/apigateway/snapshot.py), checked against each
        #: API's revision on every read, made on first use.
        self.apigateway_views: Any = None
        #: The REST APIs' invoke-time state (controller/execute_api/rest/throttle.py: token buckets, usage-plan
        #: quotas, Lambda authorizer results), made on first use.
        self.execute_api_runtime: Any = None
        #: Remote OIDC issuers' discovery documents and JWKS (controller/auth/oidc.py: KeyCache), kept a few
        #: minutes so STS, identity pools and JWT authorizers do not fetch them on every token, made on first use.
        self.oidc_keys: Any = None
        #: WAF's invoke-time state (controller/wafv2/runtime.py: rate-based rule counters, sampled requests),
        #: made on first use.
        self.waf_runtime: Any = None
        #: EC2's spot interruption worker (controller/ec2/instances/spot_interruptions.py), made by EC2's start hook.
        self.spot_interrupter: Any = None
        #: Where Systems Manager agents' GetMessages long polls wait for work (a ``KeyedSignals`` by managed
        #: instance id, controller/ec2messages/messages.py), made by its start hook and closed by its stop hook.
        self.agent_message_signals: Any = None
        #: Session Manager's data-channel relay (controller/ssmmessages/channels.py: each session's two ends), made
        #: by Systems Manager's start hook; the listener started by ``cloudlet up`` serves it.
        self.session_channels: Any = None
        #: CloudWatch's alarm evaluator and retention sweeper (controller/cloudwatch/worker.py), started and
        #: stopped by its hooks: one per cloud process.
        self.cloudwatch_worker: Any = None
        #: Auto Scaling's reconciler (controller/autoscaling/worker.py), made by its start hook.
        self.autoscaling_reconciler: Any = None
        #: Batch's dispatcher (controller/batch/dispatch.py), made by its start hook.
        self.batch_dispatcher: Any = None
        #: What a CloudWatch alarm's action ARN does, by the ARN's service (``autoscaling``: run a scaling
        #: policy): service -> handler(cloud, alarm, action_arn, new_state); services register from their start.
        self.alarm_action_handlers: dict[str, Callable[..., None]] = {}
        self.authorizer: Authorizer = _authorizer_of(self.services)(self)
        #: Where agents' long-polls wait for what their host should run to change (controller/hosts/).
        self.host_generation = GenerationWatch(self.db)
        #: The sections of every host's desired document, from every service, in the services' order.
        self.host_sections = {name: provider for api in self.services.values()
                              for name, provider in api.host_sections.items()}

    def start(self) -> None:
        """Run every service's start hooks (crash recovery, background workers) before serving."""
        self.leadership.start()
        for api in self.services.values():
            for hook in api.on_start:
                hook(self)

    def close(self) -> None:
        for api in self.services.values():
            for hook in api.on_stop:
                hook(self)
        self.leadership.close()  # once the workers stopped: another controller may take over at once
        self.audit.close()
        self.writer.close()
        self.db.close()


def private_token(path: Path) -> str:
    """A random bearer token kept in a 0600 file, created on first use."""
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def _authorizer_of(services: dict[str, ServiceApi]) -> Callable[[Cloud], Authorizer]:
    """The authorizer factory of the one service that declares it (IAM)."""
    [factory] = [api.authorizer for api in services.values() if api.authorizer is not None]
    return factory


def load_services() -> dict[str, ServiceApi]:
    services = {}
    for package in SERVICE_PACKAGES:
        api = importlib.import_module(f"controller.{package}").api
        services[api.model_name] = api
    return services
