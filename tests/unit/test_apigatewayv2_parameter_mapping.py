"""Parameter mapping of HTTP_PROXY integrations: keys checked, headers/query/path changed, values rendered."""

from __future__ import annotations

from controller.apigatewayv2.parameter_mapping import Outgoing, apply, check, render

VALUES = {"request.header.x-user": "alice", "request.path.id": "42", "context.requestId": "rid",
          "stageVariables.env": "prod"}


def _lookup(name: str) -> str:
    return VALUES.get(name, "")


def test_keys_are_checked() -> None:
    assert check({"append:header.x-a": "1", "overwrite:querystring.q": "2", "remove:header.x-b": "",
                  "overwrite:path": "/a"}) is None
    assert check({"overwrite:body": "x"}) is not None
    assert check({"append:path": "x"}) is not None
    assert check({"overwrite:header.Host": "x"}) is not None


def test_render_both_spellings() -> None:
    assert render("$request.header.x-user", _lookup) == "alice"
    assert render("user-${request.header.x-user}/${stageVariables.env}", _lookup) == "user-alice/prod"
    assert render("$request.header.absent", _lookup) == "" and render("plain", _lookup) == "plain"


def test_apply_changes_headers_query_and_path() -> None:
    outgoing = Outgoing("/orig", [("X-Old", "1"), ("x-keep", "k")], [("q", "1"), ("q", "2")])
    apply({"remove:header.x-old": "", "append:header.x-user": "$request.header.x-user",
           "overwrite:querystring.q": "$request.path.id", "append:querystring.r": "${context.requestId}",
           "overwrite:path": "items/$request.path.id"}, outgoing, _lookup)
    assert outgoing.path == "/items/42"
    assert outgoing.headers == [("x-keep", "k"), ("x-user", "alice")]
    assert outgoing.query == [("q", "42"), ("r", "rid")]
