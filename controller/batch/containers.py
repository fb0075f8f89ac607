"""Checking a job definition's containerProperties, retryStrategy and timeout the way AWS Batch does.

Kept apart from the operations (``job_definitions.py``) because SubmitJob's containerOverrides, retry and
timeout overrides are held to the same rules, so the jobs code can call these too. Messages name the member
at fault. Rules: https://docs.aws.amazon.com/batch/latest/APIReference/API_ContainerProperties.html,
API_ResourceRequirement.html, API_RetryStrategy.html, API_EvaluateOnExit.html, API_JobTimeout.html.
"""

from __future__ import annotations

import re
from typing import Any

from controller.batch.errors import ClientException

LOG_DRIVERS = ("json-file", "syslog", "journald", "gelf", "fluentd", "awslogs", "splunk", "awsfirelens")
FARGATE_LOG_DRIVERS = ("awslogs", "splunk", "awsfirelens")
#: Fargate's vCPU values and the memory (MiB) each allows (API_ResourceRequirement).
FARGATE_MEMORY: dict[str, range | tuple[int, ...]] = {
    "0.25": (512, 1024, 2048),
    "0.5": (1024, 2048, 3072, 4096),
    "1": tuple(range(2048, 8193, 1024)),
    "2": tuple(range(4096, 16385, 1024)),
    "4": tuple(range(8192, 30721, 1024)),
    "8": tuple(range(16384, 61441, 4096)),
    "16": tuple(range(32768, 122881, 8192)),
}
MIN_MEMORY_MIB = 4
#: onExitCode: digits, optionally ending in ``*``; onStatusReason/onReason: letters, digits, ``.``, ``:``,
#: white space, optionally ending in ``*``; each at most 512 characters.
EXIT_CODE = re.compile(r"^[0-9]*\*?$")
REASON = re.compile(r"^[A-Za-z0-9.:\s]*\*?$")
MAX_EVALUATE_ON_EXIT = 5


def _whole(value: str, what: str, minimum: int) -> int:
    if not value.isdigit() or int(value) < minimum:
        raise ClientException(f"{what} must be a whole number of at least {minimum}")
    return int(value)


def check_resource_requirements(items: Any, fargate: bool) -> list[dict[str, str]]:
    """VCPU, MEMORY and GPU requirements: each type once, values that fit the platform."""
    if items is None:
        return []
    stored, seen = [], set()
    for item in items:
        kind, value = item.get("type"), item.get("value")
        if kind not in ("VCPU", "MEMORY", "GPU"):
            raise ClientException(f"resourceRequirements type {kind} is not valid; valid types are VCPU, MEMORY "
                                  "and GPU")
        if not isinstance(value, str) or not value:
            raise ClientException(f"resourceRequirements value for {kind} must be specified")
        if kind in seen:
            raise ClientException(f"resourceRequirements can specify {kind} only once")
        seen.add(kind)
        if kind == "MEMORY":
            _whole(value, "MEMORY resource requirement", MIN_MEMORY_MIB)
        elif kind == "GPU":
            if fargate:
                raise ClientException("GPU resource requirements aren't supported for jobs running on Fargate "
                                      "resources")
            _whole(value, "GPU resource requirement", 1)
        elif fargate:
            if value not in FARGATE_MEMORY:
                raise ClientException(f"VCPU value {value} is not supported on Fargate; supported values are "
                                      f"{', '.join(FARGATE_MEMORY)}")
        else:
            _whole(value, "VCPU resource requirement", 1)
        stored.append({"value": value, "type": kind})
    return stored


def _requirement(items: list[dict[str, str]], kind: str) -> str | None:
    return next((item["value"] for item in items if item["type"] == kind), None)


def _check_fargate(props: dict[str, Any], requirements: list[dict[str, str]]) -> None:
    for key in ("vcpus", "memory", "instanceType"):
        if props.get(key) is not None:
            raise ClientException(f"containerProperties.{key} isn't supported for jobs running on Fargate "
                                  "resources; use resourceRequirements")
    if props.get("privileged"):
        raise ClientException("containerProperties.privileged isn't supported for jobs running on Fargate "
                              "resources")
    if not props.get("executionRoleArn"):
        raise ClientException("containerProperties.executionRoleArn must be specified for jobs running on "
                              "Fargate resources")
    linux = props.get("linuxParameters") or {}
    for key in ("devices", "maxSwap", "swappiness", "sharedMemorySize", "tmpfs"):
        if linux.get(key) is not None:
            raise ClientException(f"linuxParameters.{key} isn't supported for jobs running on Fargate resources")
    for volume in props.get("volumes") or []:
        if (volume.get("host") or {}).get("sourcePath"):
            raise ClientException(f"volumes {volume.get('name')}: host sourcePath isn't supported for jobs running "
                                  "on Fargate resources")
    vcpu, memory = _requirement(requirements, "VCPU"), _requirement(requirements, "MEMORY")
    if vcpu is None or memory is None:
        raise ClientException("resourceRequirements must specify VCPU and MEMORY for jobs running on Fargate "
                              "resources")
    if int(memory) not in FARGATE_MEMORY[vcpu]:
        raise ClientException(f"MEMORY value {memory} is not supported with VCPU value {vcpu} on Fargate")
    driver = (props.get("logConfiguration") or {}).get("logDriver")
    if driver is not None and driver not in FARGATE_LOG_DRIVERS:
        raise ClientException(f"logDriver {driver} isn't supported for jobs running on Fargate resources")
    storage = props.get("ephemeralStorage")
    if storage is not None and not 21 <= int(storage.get("sizeInGiB") or 0) <= 200:
        raise ClientException("ephemeralStorage.sizeInGiB must be between 21 and 200")


def _check_ec2(props: dict[str, Any], requirements: list[dict[str, str]]) -> None:
    for key in ("fargatePlatformConfiguration", "networkConfiguration", "ephemeralStorage"):
        if props.get(key) is not None:
            raise ClientException(f"containerProperties.{key} only applies to jobs running on Fargate resources")
    if props.get("vcpus") is not None:
        if _requirement(requirements, "VCPU") is not None:
            raise ClientException("containerProperties.vcpus and a VCPU resource requirement can't both be "
                                  "specified")
        if not isinstance(props["vcpus"], int) or props["vcpus"] < 1:
            raise ClientException("containerProperties.vcpus must be at least 1")
    if props.get("memory") is not None:
        if _requirement(requirements, "MEMORY") is not None:
            raise ClientException("containerProperties.memory and a MEMORY resource requirement can't both be "
                                  "specified")
        if not isinstance(props["memory"], int) or props["memory"] < MIN_MEMORY_MIB:
            raise ClientException(f"containerProperties.memory must be at least {MIN_MEMORY_MIB} MiB")


def check_environment(variables: list[dict[str, Any]] | None, member: str = "environment") -> None:
    """Environment variables of a definition or of a job's overrides: named, and none of AWS Batch's own."""
    for variable in variables or []:
        name = variable.get("name") or ""
        if not name:
            raise ClientException(f"{member} variables must have a name")
        if name.startswith("AWS_BATCH"):
            raise ClientException(f"Environment variable {name} is not valid: names starting with AWS_BATCH are "
                                  "reserved for variables that AWS Batch sets")


def _check_lists(props: dict[str, Any]) -> None:
    check_environment(props.get("environment"))
    for secret in props.get("secrets") or []:
        if not secret.get("name") or not secret.get("valueFrom"):
            raise ClientException("secrets must have a name and a valueFrom")
    volumes = set()
    for volume in props.get("volumes") or []:
        if not volume.get("name"):
            raise ClientException("volumes must have a name")
        if volume.get("host") and volume.get("efsVolumeConfiguration"):
            raise ClientException(f"volumes {volume['name']}: host and efsVolumeConfiguration can't both be "
                                  "specified")
        volumes.add(volume["name"])
    for mount in props.get("mountPoints") or []:
        if mount.get("sourceVolume") not in volumes:
            raise ClientException(f"mountPoints sourceVolume {mount.get('sourceVolume')} doesn't name a volume "
                                  "of the job definition")
        if not mount.get("containerPath"):
            raise ClientException("mountPoints must have a containerPath")
    _check_linux(props.get("linuxParameters") or {})
    for limit in props.get("ulimits") or []:
        if not limit.get("name") or limit.get("softLimit") is None or limit.get("hardLimit") is None:
            raise ClientException("ulimits must have a name, a softLimit and a hardLimit")
        if limit["softLimit"] > limit["hardLimit"]:
            raise ClientException(f"ulimit {limit['name']}: softLimit can't be greater than hardLimit")
    log = props.get("logConfiguration")
    if log is not None and log.get("logDriver") not in LOG_DRIVERS:
        raise ClientException(f"logDriver {log.get('logDriver')} is not valid; valid values are "
                              f"{', '.join(LOG_DRIVERS)}")
    command = props.get("command")
    if command is not None and not all(isinstance(part, str) for part in command):
        raise ClientException("command must be a list of strings")


def _check_linux(linux: dict[str, Any]) -> None:
    """linuxParameters.devices (a hostPath, permissions among READ, WRITE, MKNOD) and tmpfs (a containerPath
    and a size in MiB), as API_Device and API_Tmpfs require."""
    for device in linux.get("devices") or []:
        if not device.get("hostPath"):
            raise ClientException("linuxParameters.devices must have a hostPath")
        for permission in device.get("permissions") or []:
            if permission not in ("READ", "WRITE", "MKNOD"):
                raise ClientException(f"device permission {permission} is not valid; valid values are READ, "
                                      "WRITE and MKNOD")
    for mount in linux.get("tmpfs") or []:
        if not mount.get("containerPath") or not isinstance(mount.get("size"), int) or mount["size"] < 1:
            raise ClientException("linuxParameters.tmpfs must have a containerPath and a size of at least 1 MiB")


def check_container(props: Any, fargate: bool) -> dict[str, Any]:
    """containerProperties as stored, with the empty lists and Fargate defaults AWS shows; "Ref::" placeholders
    in command stay as they are (SubmitJob substitutes them)."""
    if not isinstance(props, dict) or not props:
        raise ClientException("containerProperties must be specified for a container job definition")
    if not props.get("image"):
        raise ClientException("containerProperties.image must be specified")
    out = {key: value for key, value in props.items() if value is not None}
    requirements = check_resource_requirements(out.get("resourceRequirements"), fargate)
    if fargate:
        _check_fargate(out, requirements)
        out.setdefault("fargatePlatformConfiguration", {"platformVersion": "LATEST"})
        out.setdefault("networkConfiguration", {"assignPublicIp": "DISABLED"})
    else:
        _check_ec2(out, requirements)
    _check_lists(out)
    out["resourceRequirements"] = requirements
    for key in ("volumes", "environment", "mountPoints", "ulimits", "secrets"):
        out.setdefault(key, [])
    return out


def check_retry_strategy(strategy: Any) -> dict[str, Any] | None:
    """attempts 1-10, at most 5 evaluateOnExit conditions with glob patterns and RETRY or EXIT."""
    if strategy is None:
        return None
    out: dict[str, Any] = {}
    attempts = strategy.get("attempts")
    if attempts is not None:
        if not isinstance(attempts, int) or not 1 <= attempts <= 10:
            raise ClientException("retryStrategy.attempts must be between 1 and 10")
        out["attempts"] = attempts
    conditions = strategy.get("evaluateOnExit")
    if conditions is not None:
        if len(conditions) > MAX_EVALUATE_ON_EXIT:
            raise ClientException(f"retryStrategy.evaluateOnExit can contain at most {MAX_EVALUATE_ON_EXIT} "
                                  "conditions")
        stored = []
        for condition in conditions:
            action = str(condition.get("action") or "").upper()
            if action not in ("RETRY", "EXIT"):
                raise ClientException(f"evaluateOnExit action {condition.get('action')} is not valid; valid "
                                      "values are RETRY and EXIT")
            entry = {"action": action}
            for key, pattern in (("onStatusReason", REASON), ("onReason", REASON), ("onExitCode", EXIT_CODE)):
                value = condition.get(key)
                if value is None:
                    continue
                if len(value) > 512 or not pattern.match(value):
                    raise ClientException(f"evaluateOnExit {key} {value!r} is not a valid pattern")
                entry[key] = value
            stored.append(entry)
        out["evaluateOnExit"] = stored
    return out


def check_timeout(timeout: Any) -> dict[str, Any] | None:
    """attemptDurationSeconds: at least 60 (AWS's minimum)."""
    if timeout is None:
        return None
    seconds = timeout.get("attemptDurationSeconds")
    if seconds is None:
        return {}
    if not isinstance(seconds, int) or seconds < 60:
        raise ClientException("timeout.attemptDurationSeconds must be at least 60 seconds")
    return {"attemptDurationSeconds": seconds}
