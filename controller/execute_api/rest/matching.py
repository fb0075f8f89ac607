"""Which stage, deployment, resource and method serve a request to a REST API: pure.

The path after the API starts with the stage (``/prod/pets/1``). Within a deployment, a resource path
matches segment by segment, a literal part before a ``{param}`` part before a greedy ``{proxy+}`` (which
takes one or more segments), and a resource serves the request when it has the request's method or ``ANY``;
when the most specific resource has neither, the next candidate is tried, so a ``/{proxy+}`` with ``ANY``
catches what the literal resources leave. Path parameters are the decoded segments, as API Gateway hands them
to integrations. The canary pick is a draw against ``canarySettings.percentTraffic``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote


@dataclass(frozen=True)
class Match:
    """The resource and method a request reached, with its path parameters."""

    resource: dict[str, Any]
    method: dict[str, Any]
    path_parameters: dict[str, str]


@dataclass(frozen=True)
class Served:
    """What a stage serves this request from: the primary deployment or the canary's, with its variables."""

    deployment: dict[str, Any]
    variables: dict[str, str]
    canary: bool


def split_stage(path: str) -> tuple[str, str]:
    """``(stage, rest)`` of the path after the API: ``/prod/pets/1`` -> ``("prod", "/pets/1")``.

    The stage is decoded; ``rest`` keeps its encoding and always starts with ``/``.
    """
    stage, _, rest = path.lstrip("/").partition("/")
    return unquote(stage), "/" + rest


def segments(path: str) -> list[str]:
    """The decoded segments of a percent-encoded path (``%2F`` stays inside its segment)."""
    return [unquote(part) for part in path.split("/") if part]


def pick(stage: dict[str, Any], deployment: dict[str, Any], canary_deployment: dict[str, Any] | None,
         draw: float | None = None) -> Served:
    """The deployment a request goes to: the canary's for ``percentTraffic`` percent of the draws.

    The canary serves with the stage's variables overridden by ``stageVariableOverrides``; ``draw`` is a
    number in [0, 1) (a fresh random one when None).
    """
    variables = dict(stage.get("variables") or {})
    canary = stage.get("canarySettings") or {}
    share = float(canary.get("percentTraffic") or 0.0)
    if canary_deployment is not None and share > 0 and (
            random.random() if draw is None else draw) * 100.0 < share:
        variables.update(canary.get("stageVariableOverrides") or {})
        return Served(canary_deployment, variables, True)
    return Served(deployment, variables, False)


def _part_kind(part: str) -> int:
    """Rank of a path part: 0 literal, 1 ``{param}``, 2 greedy ``{param+}``."""
    if part.startswith("{") and part.endswith("+}"):
        return 2
    return 1 if part.startswith("{") and part.endswith("}") else 0


class _Node:
    """One resource path part with the resources below it (a tree built per lookup: deployments are small)."""

    def __init__(self) -> None:
        self.resource: dict[str, Any] | None = None
        self.children: dict[str, _Node] = {}


def _tree(resources: list[dict[str, Any]]) -> _Node:
    root = _Node()
    for resource in resources:
        node = root
        for part in [p for p in (resource.get("path") or "/").split("/") if p]:
            node = node.children.setdefault(part, _Node())
        node.resource = resource
    return root


def _candidates(node: _Node, parts: list[str], params: dict[str, str]) -> Iterator[tuple[dict[str, Any],
                                                                                         dict[str, str]]]:
    """The resources the remaining ``parts`` reach from ``node``, most specific first."""
    if not parts:
        if node.resource is not None:
            yield node.resource, params
        return
    head, rest = parts[0], parts[1:]
    for part, child in sorted(node.children.items(), key=lambda item: _part_kind(item[0])):
        kind = _part_kind(part)
        if kind == 0 and part == head:
            yield from _candidates(child, rest, params)
        elif kind == 1:
            yield from _candidates(child, rest, {**params, part[1:-1]: head})
        elif kind == 2 and child.resource is not None:
            yield child.resource, {**params, part[1:-2]: "/".join(parts)}


def match(resources: list[dict[str, Any]], method: str, path: str) -> Match | None:
    """The resource and method serving ``method path`` (path without the stage, percent-encoded), or None:
    API Gateway's 403 Missing Authentication Token."""
    for resource, params in _candidates(_tree(resources), segments(path), {}):
        methods = resource.get("resourceMethods") or {}
        found = methods.get(method.upper()) or methods.get("ANY")
        if found is not None:
            return Match(resource, found, params)
    return None
