"""Lambda invocations: what the controller hands a host's function runner, and what comes back.

The controller calls the agent here (``POST <functions_url>/invoke``, the host's credential), the one
direction opposite to the rest of the contract.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent.contract.codec import Message


@dataclass
class FunctionInvocation(Message):
    """One invocation the controller hands to a host's function runner (``POST <functions_url>/invoke``).

    It carries everything an execution environment needs, so agents keep no Lambda state of their own:
    environments are pooled by ``(function_arn, version, revision)`` and a new revision (new code or
    configuration) never reuses an old environment. Code, layers and image archives are fetched once by
    ``code_sha256`` from ``GET /_cloudlet/agent/v1/functions/code/<sha256>`` and cached on the host.
    """

    request_id: str
    #: The unqualified function ARN, and the version that runs (``$LATEST`` or a published number).
    function_arn: str
    version: str
    #: Changes whenever this version's code or configuration changes (the function's RevisionId).
    revision: str
    #: ``Zip`` or ``Image``.
    package_type: str
    runtime: str | None
    handler: str | None
    code_sha256: str
    memory_mb: int
    timeout_s: int
    ephemeral_mb: int
    #: The function's own environment variables (decrypted); the runner adds AWS's reserved ones.
    environment: dict[str, str]
    #: The execution role's session for new environments: AccessKeyId, SecretAccessKey, SessionToken, Expiration.
    credentials: dict[str, str]
    region: str
    log_group: str
    #: The event, as the JSON text the caller sent.
    payload: str
    #: Where the function's SDK calls go (``AWS_ENDPOINT_URL`` inside the environment): the Cloudlet API.
    endpoint_url: str
    #: Layers in the function's order: ``{"arn": ..., "code_sha256": ...}``; unpacked under /opt, later ones on top.
    layers: list[dict[str, str]] = field(default_factory=list)
    #: Image functions' overrides: ``EntryPoint``, ``Command``, ``WorkingDirectory`` (AWS's ImageConfig).
    image_config: dict[str, Any] = field(default_factory=dict)
    #: The invoked ARN as the caller named it (qualified by alias or version), for the context object.
    invoked_function_arn: str = ""
    client_context: str | None = None
    #: How many environments this function version may run at once on this host (reserved concurrency).
    max_environments: int | None = None
    #: How long an idle environment is kept warm before it is reclaimed.
    idle_seconds: int = 600


@dataclass
class FunctionResult(Message):
    """The runner's answer to one ``FunctionInvocation``.

    ``status``: ``ok``; ``function_error`` (the handler raised: ``payload`` is the runtime's error document);
    ``timeout``, ``crashed`` (the runtime exited, out of memory included) and ``init_error`` (the environment
    never became ready): for these ``payload`` is the AWS-shaped error document the runner wrote; ``throttled``
    (no environment could be had within ``max_environments``).
    """

    request_id: str
    status: str
    #: The function's response (or error document), as text.
    payload: str
    #: What the ``X-Amz-Function-Error`` header says (``Unhandled``), None on success.
    function_error: str | None
    #: This invocation's log lines ``[timestamp_ms, text]`` in order: a cold start's INIT_START and init output
    #: first, then START, the handler's output, END and REPORT, exactly as AWS writes them.
    log: list[list[Any]]
    #: The log stream of the environment that ran it (``2026/12/04/[$LATEST]<environment id>``).
    log_stream: str
    cold: bool
    duration_ms: float
    billed_ms: int
    max_memory_mb: int
    init_ms: float | None = None
