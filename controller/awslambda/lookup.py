"""What invocation and event sources ask of Lambda's control plane (contract B).

H3's Invoke and H4's async queue and pollers never read Lambda's tables: they resolve what a caller
named to a :class:`Target` (the function, the alias's weighted versions, its reserved concurrency),
load one version's :class:`VersionConfig` (environment decrypted), and ask whether a service
principal may invoke the function under its resource policy, evaluated by the IAM engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from controller.awslambda import environment, records
from controller.awslambda.records import LATEST, VERSION_RE, FunctionRef
from controller.iam import policy

T = TypeVar("T")

Cloud = Any


@dataclass(frozen=True)
class Target:
    """A function as a caller named it, with the versions its invocations go to."""

    account_id: str
    function_name: str
    function_arn: str                      # unqualified
    invoked_arn: str                       # as the caller named it (qualified if it was)
    alias: str | None
    routes: tuple[tuple[str, float], ...]  # (version, weight), weights sum to 1.0
    reserved_concurrency: int | None       # PutFunctionConcurrency; 0 = every invoke throttled
    state: str                             # Active | Pending | Inactive | Failed


@dataclass(frozen=True)
class VersionConfig:
    """What running one version of a function needs (shared from the lookup cache: read it, never change it)."""

    function_arn: str
    version: str
    revision_id: str
    package_type: str                      # Zip | Image
    runtime: str | None
    handler: str | None
    code_sha256_hex: str                   # key in the code store (zip, or the image's OCI archive)
    memory_mb: int
    timeout_s: int
    ephemeral_mb: int
    environment: dict[str, str]            # decrypted
    role_arn: str
    layers: tuple[tuple[str, str], ...]    # (layer version ARN, code_sha256_hex) in the function's order
    image_config: dict
    log_group: str
    dead_letter_arn: str | None
    vpc_config: dict
    file_system_configs: list


def _region_of(cloud: Cloud) -> str:
    return cloud.config.region


def resolve_target(cloud: Cloud, account_id: str, name_or_arn: str, qualifier: str | None) -> Target:
    """The function (and version or alias) a caller named; ResourceNotFound / InvalidParameterValue as AWS."""
    ref = records.parse_function(name_or_arn, qualifier, account_id=account_id, region=_region_of(cloud))
    return _cached(cloud, ("target", ref), lambda: _read_target(cloud, ref))


def _cached(cloud: Cloud, key: tuple[str, FunctionRef], read: Callable[[], T]) -> T:
    """``read()``'s answer, kept until the next Lambda write (a write between the read and the store
    leaves nothing stale: the cache drops answers read under an older generation)."""
    cache = records.lookups_of(cloud)
    found = cache.get(key)
    if found is None:
        generation = cache.generation
        found = read()
        cache.put(key, found, generation)
    return found


def _read_target(cloud: Cloud, ref: FunctionRef) -> Target:
    with cloud.db.read() as conn:
        function = records.function_row(conn, ref)
        latest = records.version_row(conn, ref, LATEST)
        alias_name, routes = None, ((LATEST, 1.0),)
        if ref.qualifier not in (None, LATEST):
            if VERSION_RE.fullmatch(ref.qualifier):
                if records.version_row(conn, ref, ref.qualifier) is None:
                    raise records.function_not_found(ref.qualified_arn)
                routes = ((ref.qualifier, 1.0),)
            else:
                alias = records.alias_row(conn, ref, ref.qualifier)
                if alias is None:
                    raise records.function_not_found(ref.qualified_arn)
                alias_name, routes = alias["name"], alias_routes(alias["function_version"], alias["routing"])
    state = (latest or {}).get("config", {}).get("State", "Active")
    return Target(account_id=ref.account_id, function_name=ref.name, function_arn=ref.arn,
                  invoked_arn=ref.qualified_arn, alias=alias_name, routes=routes,
                  reserved_concurrency=function["reserved_concurrency"], state=state)


def alias_routes(primary: str, weights: dict[str, float]) -> tuple[tuple[str, float], ...]:
    """An alias's (version, weight) pairs: the extra versions' weights, the primary the rest."""
    extra = tuple((version, float(weight)) for version, weight in sorted(weights.items()))
    return ((primary, max(0.0, 1.0 - sum(weight for _, weight in extra))), *extra)


def load_version(cloud: Cloud, account_id: str, function_name: str, version: str) -> VersionConfig:
    """One version's configuration, environment decrypted; ResourceNotFoundException when it is gone."""
    ref = FunctionRef(account_id, _region_of(cloud), function_name, version)
    return _cached(cloud, ("version", ref), lambda: _read_version(cloud, ref))


def _read_version(cloud: Cloud, ref: FunctionRef) -> VersionConfig:
    version = ref.qualifier or LATEST
    with cloud.db.read() as conn:
        row = records.version_row(conn, ref, version)
    if row is None:
        raise records.function_not_found(ref.qualified_arn)
    config = row["config"]
    sealed = config.get("Environment")
    variables = environment.unseal(cloud, ref.account_id, ref.arn, sealed) if sealed else {}
    return VersionConfig(
        function_arn=ref.arn, version=version, revision_id=row["revision_id"],
        package_type=config.get("PackageType", "Zip"), runtime=config.get("Runtime"), handler=config.get("Handler"),
        code_sha256_hex=config["CodeShaHex"], memory_mb=config["MemorySize"], timeout_s=config["Timeout"],
        ephemeral_mb=config["EphemeralStorage"]["Size"], environment=variables, role_arn=config["Role"],
        layers=tuple((layer["Arn"], layer["CodeShaHex"]) for layer in config.get("Layers", [])),
        image_config=config.get("ImageConfig") or {},
        log_group=(config.get("LoggingConfig") or {}).get("LogGroup") or f"/aws/lambda/{ref.name}",
        dead_letter_arn=(config.get("DeadLetterConfig") or {}).get("TargetArn"),
        vpc_config=config.get("VpcConfig") or {}, file_system_configs=config.get("FileSystemConfigs") or [])


def policy_document(cloud: Cloud, account_id: str, function_name: str, qualifier: str | None) -> dict | None:
    """The resource policy of a function, version or alias, or None when it has none."""
    with cloud.db.read() as conn:
        return records.policy_of(conn, FunctionRef(account_id, _region_of(cloud), function_name, qualifier))


def service_may_invoke(cloud: Cloud, target: Target, principal: str, source_arn: str, source_account: str) -> bool:
    """Whether the function's resource policy lets service ``principal`` invoke it from ``source_arn``.

    AWS evaluates the policy of the ARN the service invokes: a qualified ARN's (alias or version)
    policy, else the function's own.
    """
    qualifier = target.invoked_arn[len(target.function_arn) + 1:] or None
    document = policy_document(cloud, target.account_id, target.function_name, qualifier)
    if document is None:
        return False
    try:
        parsed = policy.parse_policy(document, policy_id="function policy", source_type="resource")
    except policy.PolicyError:
        return False
    request = policy.EvaluationRequest(
        action="lambda:InvokeFunction", resource=target.invoked_arn, principal_arn=principal, principal_account="",
        resource_account=target.account_id, require_resource_policy=True, default_region=_region_of(cloud),
        context={"aws:SourceArn": source_arn, "aws:SourceAccount": source_account,
                 "aws:PrincipalServiceName": principal, "aws:SecureTransport": "true"})
    return policy.evaluate(request, policy.PolicySet(resource=[parsed])).decision == policy.ALLOWED
