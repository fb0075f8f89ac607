"""Which route of an HTTP API serves a request: pure, over the deployed routes' keys.

AWS picks the most specific match: segment by segment, a literal beats a ``{variable}``, which beats a
greedy ``{variable+}`` (one or more segments); a route for the request's method beats ``ANY``; a request no
route matches goes to ``$default`` if there is one. Paths are compared percent-decoded and case-sensitively.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

LITERAL, VARIABLE, GREEDY = 0, 1, 2


@dataclass(frozen=True)
class Selected:
    """The route a request goes to and the path variables it bound (decoded)."""

    route: dict[str, Any]
    path_parameters: dict[str, str]


def split_path(path: str) -> list[str]:
    """The decoded segments of a request path (``/a/b%20c`` -> ``["a", "b c"]``; ``/`` -> ``[]``)."""
    return [unquote(part) for part in path.split("/")[1:]] if path not in ("", "/") else []


def match_template(template: str, segments: list[str]) -> tuple[list[int], dict[str, str]] | None:
    """How ``template`` (a route key's path) matches ``segments``: each position's kind, and the variables."""
    parts = template.split("/")[1:] if template != "/" else []
    ranks: list[int] = []
    bound: dict[str, str] = {}
    for index, part in enumerate(parts):
        if part.startswith("{") and part.endswith("+}"):
            rest = segments[index:]
            if not rest or not "".join(rest):
                return None
            bound[part[1:-2]] = "/".join(rest)
            return ranks + [GREEDY], bound
        if index >= len(segments):
            return None
        if part.startswith("{") and part.endswith("}"):
            if segments[index] == "":
                return None
            bound[part[1:-1]] = segments[index]
            ranks.append(VARIABLE)
        elif part == segments[index]:
            ranks.append(LITERAL)
        else:
            return None
    return (ranks, bound) if len(parts) == len(segments) else None


def select_route(routes: list[dict[str, Any]], method: str, path: str) -> Selected | None:
    """The route for ``method`` and ``path`` (the path after the stage), or None when nothing matches."""
    segments = split_path(path)
    best: tuple[tuple[list[int], int], Selected] | None = None
    default = None
    for route in routes:
        key = route["RouteKey"]
        if key == "$default":
            default = route
            continue
        route_method, _, template = key.partition(" ")
        if route_method not in (method.upper(), "ANY"):
            continue
        matched = match_template(template, segments)
        if matched is None:
            continue
        rank = (matched[0], 1 if route_method == "ANY" else 0)
        if best is None or rank < best[0]:
            best = (rank, Selected(route, matched[1]))
    if best is not None:
        return best[1]
    return Selected(default, {}) if default is not None else None
