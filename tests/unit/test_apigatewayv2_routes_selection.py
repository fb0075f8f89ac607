"""Route selection of HTTP APIs: the most specific route wins, greedy variables, ANY, $default."""

from __future__ import annotations

from controller.apigatewayv2.lookup import pick_stage
from controller.apigatewayv2.route_selection import select_route

ROUTES = [{"RouteKey": key, "RouteId": key} for key in (
    "GET /items/{id}", "GET /items/special", "ANY /items/{id}", "ANY /{proxy+}", "POST /items",
    "GET /files/{path+}", "GET /", "$default")]


def _pick(method: str, path: str) -> tuple[str, dict[str, str]] | None:
    selected = select_route(ROUTES, method, path)
    return (selected.route["RouteKey"], selected.path_parameters) if selected else None


def test_literal_beats_variable_and_method_beats_any() -> None:
    assert _pick("GET", "/items/special") == ("GET /items/special", {})
    assert _pick("GET", "/items/42") == ("GET /items/{id}", {"id": "42"})
    assert _pick("DELETE", "/items/42") == ("ANY /items/{id}", {"id": "42"})
    assert _pick("POST", "/items") == ("POST /items", {})


def test_greedy_takes_one_or_more_segments_decoded() -> None:
    assert _pick("GET", "/files/a/b%20c.txt") == ("GET /files/{path+}", {"path": "a/b c.txt"})
    assert _pick("GET", "/files") == ("ANY /{proxy+}", {"proxy": "files"})
    assert _pick("PUT", "/x/y") == ("ANY /{proxy+}", {"proxy": "x/y"})


def test_root_and_default() -> None:
    assert _pick("GET", "/") == ("GET /", {})
    assert _pick("POST", "/") == ("$default", {})
    assert select_route([{"RouteKey": "GET /a"}], "GET", "/b") is None
    assert _pick("get", "/items/special") == ("GET /items/special", {})


def test_paths_are_case_sensitive() -> None:
    assert _pick("GET", "/Items/special") == ("ANY /{proxy+}", {"proxy": "Items/special"})


def test_stage_from_the_path() -> None:
    assert pick_stage({"prod", "$default"}, "/prod/items") == ("prod", "/items")
    assert pick_stage({"prod", "$default"}, "/other/items") == ("$default", "/other/items")
    assert pick_stage({"prod"}, "/prod") == ("prod", "/")
    assert pick_stage({"prod"}, "/dev/x") is None
    assert pick_stage({"$default"}, "/$default/x") == ("$default", "/$default/x")
