"""Pure checks of a function's configuration, in Lambda's words.

The protocol layer already enforces the model's lengths, patterns, enums and ranges (a Coral
ValidationException, as Lambda answers). What is left here is what Lambda checks beyond its model:
the service limits (memory 128-10,240 MB, timeout up to 900 s, /tmp 512-10,240 MB,
https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html), which runtimes exist
here, what a zip or an image package requires, and the small configuration blocks.
"""

from __future__ import annotations

import re
from typing import Any

from controller.awslambda.errors import InvalidParameterValueException

#: The runtimes Cloudlet's agents run (contract D); a host without one answers at invoke time.
SUPPORTED_RUNTIMES = ("python3.11", "python3.12", "nodejs20.x", "provided.al2023", "provided.al2")
#: Runtimes AWS no longer lets a function be created or updated with, and the one it suggests instead.
DEPRECATED_RUNTIMES = {
    "python2.7": "python3.12", "python3.6": "python3.12", "python3.7": "python3.12", "python3.8": "python3.12",
    "nodejs": "nodejs20.x", "nodejs4.3": "nodejs20.x", "nodejs4.3-edge": "nodejs20.x", "nodejs6.10": "nodejs20.x",
    "nodejs8.10": "nodejs20.x", "nodejs10.x": "nodejs20.x", "nodejs12.x": "nodejs20.x", "nodejs14.x": "nodejs20.x",
    "nodejs16.x": "nodejs20.x", "dotnetcore1.0": "dotnet8", "dotnetcore2.0": "dotnet8", "dotnetcore2.1": "dotnet8",
    "dotnetcore3.1": "dotnet8", "dotnet6": "dotnet8", "go1.x": "provided.al2023", "ruby2.5": "ruby3.3",
    "ruby2.7": "ruby3.3", "java8": "java21", "provided": "provided.al2023"}

MEMORY_RANGE = (128, 10240)
TIMEOUT_RANGE = (1, 900)
EPHEMERAL_RANGE = (512, 10240)
DEFAULT_MEMORY = 128
DEFAULT_TIMEOUT = 3
DEFAULT_EPHEMERAL = 512
MAX_LAYERS = 5
MAX_DESCRIPTION = 256


def _coral(value: Any, member: str, constraint: str) -> InvalidParameterValueException:
    return InvalidParameterValueException(f"1 validation error detected: Value '{value}' at '{member}' failed to "
                                          f"satisfy constraint: {constraint}")


def check_range(value: int | None, member: str, bounds: tuple[int, int]) -> None:
    """Lambda's service limit on a number the model bounds more loosely."""
    if value is None:
        return
    low, high = bounds
    if value < low:
        raise _coral(value, member, f"Member must have value greater than or equal to {low}")
    if value > high:
        raise _coral(value, member, f"Member must have value less than or equal to {high}")


def check_runtime(runtime: str | None) -> None:
    if runtime is None:
        return
    if runtime in DEPRECATED_RUNTIMES:
        raise InvalidParameterValueException(
            f"The runtime parameter of {runtime} is no longer supported for creating or updating AWS Lambda "
            f"functions. We recommend you use the new runtime ({DEPRECATED_RUNTIMES[runtime]}) while creating or "
            "updating functions.")
    if runtime not in SUPPORTED_RUNTIMES:
        raise InvalidParameterValueException(
            f"The runtime parameter of {runtime} is not supported by this cloud's function hosts. Supported "
            f"runtimes: {', '.join(SUPPORTED_RUNTIMES)}.")


def check_package(package_type: str, runtime: str | None, handler: str | None) -> None:
    """A zip package needs a runtime and a handler; an image brings its own."""
    if package_type == "Zip":
        if not runtime or not handler:
            raise InvalidParameterValueException("Runtime and Handler are mandatory parameters for functions "
                                                 "created with deployment packages.")
    elif runtime or handler:
        raise InvalidParameterValueException("Runtime and Handler are not supported for functions created with "
                                             "container images.")


def check_architectures(architectures: list[str] | None, host_architecture: str) -> list[str]:
    """One architecture, which the hosts here run; x86_64 by default."""
    chosen = architectures or ["x86_64"]
    if len(chosen) != 1:
        raise _coral(chosen, "architectures", "Member must have length less than or equal to 1")
    if chosen[0] != host_architecture:
        raise InvalidParameterValueException(
            f"The architecture {chosen[0]} is not supported by this cloud's function hosts ({host_architecture}).")
    return chosen


def check_layers(layers: list[str] | None) -> list[str]:
    chosen = layers or []
    if len(chosen) > MAX_LAYERS:
        raise InvalidParameterValueException(f"Cannot reference more than {MAX_LAYERS} layers.")
    names = [arn.rsplit(":", 1)[0] for arn in chosen]
    if len(set(names)) != len(names):
        raise InvalidParameterValueException("Two different versions of the same layer are not allowed to be "
                                             "referenced in the same function.")
    return chosen


def tracing(config: dict[str, Any] | None, current: dict[str, str] | None = None) -> dict[str, str]:
    if config is None:
        return current or {"Mode": "PassThrough"}
    return {"Mode": config.get("Mode") or "PassThrough"}


def logging_config(config: dict[str, Any] | None, name: str, current: dict[str, Any] | None = None
                   ) -> dict[str, Any]:
    """LoggingConfig as Lambda reads it back: Text format and the /aws/lambda/<name> group by default."""
    merged = {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}", **(current or {}), **(config or {})}
    if merged["LogFormat"] == "Text" and (merged.get("ApplicationLogLevel") or merged.get("SystemLogLevel")):
        raise InvalidParameterValueException("ApplicationLogLevel and SystemLogLevel can only be set when "
                                             "LogFormat is JSON.")
    if merged["LogFormat"] == "JSON":
        merged.setdefault("ApplicationLogLevel", "INFO")
        merged.setdefault("SystemLogLevel", "INFO")
    return merged


def dead_letter(config: dict[str, Any] | None) -> dict[str, Any] | None:
    """DeadLetterConfig: an SQS queue or SNS topic ARN, or ``{}`` / no TargetArn to remove it."""
    if config is None:
        return None
    target = config.get("TargetArn") or ""
    if target and not re.fullmatch(r"arn:aws[a-zA-Z-]*:(sqs|sns):[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]+", target):
        raise InvalidParameterValueException(f"The provided target arn {target} is invalid: a dead-letter queue is "
                                             "an SQS queue or an SNS topic ARN.")
    return {"TargetArn": target} if target else {}


def file_systems(configs: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    chosen = configs or []
    if len(chosen) > 1:
        raise InvalidParameterValueException("Only one file system configuration is supported.")
    return [{"Arn": config["Arn"], "LocalMountPath": config["LocalMountPath"]} for config in chosen]


def image_config(config: dict[str, Any] | None) -> dict[str, Any]:
    """The EntryPoint / Command / WorkingDirectory overrides that were given."""
    return {key: value for key, value in (config or {}).items()
            if key in ("EntryPoint", "Command", "WorkingDirectory") and value is not None}
