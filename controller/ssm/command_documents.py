"""Pure: a Command document of the account's own, turned into the shell work an agent runs.

SendCommand may name the account's Command documents besides ``AWS-RunShellScript``. Cloudlet's agent runs
shell steps, so a document may have ``aws:runShellScript`` steps only (``mainSteps`` in schema 2.2,
``runtimeConfig`` in 1.2); their ``runCommand`` lines run in order, as one script. Parameters work as AWS
documents them: each declared parameter takes the value given, else its ``default``, else it is missing
(InvalidParameters); undeclared ones are refused; ``{{ name }}`` in a line is replaced by the value, and a line
that is only ``{{ name }}`` of a StringList becomes one line per item. ``allowedValues`` and
``allowedPattern`` are checked. The result has AWS-RunShellScript's parameters (commands, workingDirectory,
executionTimeout), which is what the agent is sent.
"""

from __future__ import annotations

import re
from typing import Any

from controller.errors import error

InvalidDocument = error("InvalidDocument")
InvalidParameters = error("InvalidParameters")

SHELL_ACTION = "aws:runShellScript"
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}")


def _steps(content: dict[str, Any]) -> list[dict[str, Any]]:
    if isinstance(content.get("mainSteps"), list):
        steps = content["mainSteps"]
    else:
        properties = (content.get("runtimeConfig") or {}).get(SHELL_ACTION, {}).get("properties")
        steps = [{"action": SHELL_ACTION, "inputs": item} for item in properties] \
            if isinstance(properties, list) else [{"action": SHELL_ACTION, "inputs": properties or {}}]
    if not steps or any(not isinstance(step, dict) or step.get("action") != SHELL_ACTION for step in steps):
        raise InvalidDocument(f"Cloudlet's agent runs {SHELL_ACTION} steps only; this document has other steps.")
    return steps


def _values(declared: dict[str, Any], given: dict[str, list[str]]) -> dict[str, list[str]]:
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise InvalidParameters(f"Parameter \"{unknown[0]}\" is not defined in the document.")
    values: dict[str, list[str]] = {}
    for name, spec in declared.items():
        spec = spec if isinstance(spec, dict) else {}
        if name in given:
            value = given[name]
        elif "default" in spec:
            default = spec["default"]
            value = [str(item) for item in default] if isinstance(default, list) else [str(default)]
        else:
            raise InvalidParameters(f"Parameter \"{name}\" is required by the document.")
        allowed = spec.get("allowedValues")
        if isinstance(allowed, list) and any(item not in [str(a) for a in allowed] for item in value):
            raise InvalidParameters(f"Parameter \"{name}\" must be one of {', '.join(map(str, allowed))}.")
        pattern = spec.get("allowedPattern")
        if isinstance(pattern, str) and any(re.fullmatch(pattern, item) is None for item in value):
            raise InvalidParameters(f"Parameter \"{name}\" does not match its allowedPattern {pattern}.")
        values[name] = value
    return values


def _expand(line: str, values: dict[str, list[str]]) -> list[str]:
    whole = _PLACEHOLDER.fullmatch(line.strip())
    if whole is not None and whole.group(1) in values:
        return list(values[whole.group(1)])
    return [_PLACEHOLDER.sub(lambda found: "\n".join(values.get(found.group(1), [found.group(0)])), line)]


def shell_work(content: dict[str, Any], given: dict[str, list[str]]) -> dict[str, list[str]]:
    """AWS-RunShellScript's parameters for running ``content`` with the parameters ``given``."""
    declared = content.get("parameters") if isinstance(content.get("parameters"), dict) else {}
    values = _values(declared, given)
    commands: list[str] = []
    working_directory, timeout = "", ""
    for step in _steps(content):
        inputs = step.get("inputs") if isinstance(step.get("inputs"), dict) else {}
        lines = inputs.get("runCommand", [])
        for line in [lines] if isinstance(lines, str) else lines if isinstance(lines, list) else []:
            commands.extend(_expand(str(line), values))
        working_directory = working_directory or "".join(_expand(str(inputs.get("workingDirectory", "")), values))
        timeout = timeout or "".join(_expand(str(inputs.get("timeoutSeconds", "")), values))
    if not commands:
        raise InvalidDocument("The document's steps have no runCommand lines to run.")
    work = {"commands": commands, "workingDirectory": [working_directory]}
    if timeout:
        work["executionTimeout"] = [timeout]
    return work
