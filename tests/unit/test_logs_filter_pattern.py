"""CloudWatch Logs filter patterns (controller/logs/filter_pattern.py), case by case from AWS's
FilterAndPatternSyntax page: terms, JSON and space-delimited patterns, and what is refused."""

from __future__ import annotations

import pytest

from controller.logs.filter_pattern import FilterPatternError, compile_pattern, split_event

APACHE = '127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /apache_pb.gif HTTP/1.0" 404 1534'
JSON_EVENT = ('{"eventType": "UpdateTrail", "sourceIPAddress": "123.123.123.123", "latency": 250, '
              '"ratio": 0.5, "errorCode": "AccessDenied", "user": {"id": 7, "name": "ana", "admin": true}, '
              '"tags": ["a", "b"], "gone": null, "count": "12", "quiet": false}')


def matches(pattern: str, message: str) -> bool:
    return compile_pattern(pattern)(message)


# --- terms ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("pattern", ["", "   ", '""', None])
def test_empty_pattern_matches_everything(pattern: str | None) -> None:
    assert compile_pattern(pattern)("anything at all")


@pytest.mark.parametrize(("pattern", "message", "expected"), [
    ("ERROR", "[ERROR] disk full", True),
    ("ERROR", "error: disk full", False),                      # case-sensitive
    ("ERROR Exception", "ERROR: NullPointerException", True),  # every term
    ("ERROR Exception", "ERROR: disk full", False),
    ('"Out of memory"', "fatal: Out of memory here", True),    # a phrase
    ('"Out of memory"', "Out of some memory", False),
    ("?ERROR ?WARN", "WARN slow", True),                       # any ? term
    ("?ERROR ?WARN", "INFO fine", False),
    ('?"Out of memory" ?ERROR', "Out of memory", True),
    ('?"ERROR" "MainThread" ?"WARN" "Deadlock"', "WARN Deadlock in worker", True),   # CDK's anyTermGroup
    ('?"ERROR" "MainThread" ?"WARN" "Deadlock"', "ERROR in worker", False),
    ('?"ERROR" "MainThread" ?"WARN" "Deadlock"', "ERROR in MainThread", True),
    ("job ?ERROR ?WARN", "job WARN", True),                    # plain terms before the first ? apply to all
    ("job ?ERROR ?WARN", "WARN", False),
    ("ERROR -Exiting", "ERROR: retrying", True),               # without the - term
    ("ERROR -Exiting", "ERROR: Exiting now", False),
    ("-ERROR", "all good", True),
    ("-ERROR", "ERROR!", False),
    ('ERROR -"disk full"', "ERROR disk full", False),
    ("user=ana", "login user=ana ok", True),
    (r'"say \"hi\""', 'they say "hi" twice', True),
])
def test_terms(pattern: str, message: str, expected: bool) -> None:
    assert matches(pattern, message) is expected


@pytest.mark.parametrize(("pattern", "message", "expected"), [
    ("%ERROR|WARN%", "a WARN line", True),
    ("%^[hc]at%", "hat trick", True),
    ("%^[hc]at%", "that", False),
    ("%colou?r%", "my color", True),
    ("%a{3,5}%", "baaab", True),
    ("%a{3,5}%", "baab", False),
])
def test_regex(pattern: str, message: str, expected: bool) -> None:
    assert matches(pattern, message) is expected


# --- JSON -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("pattern", "expected"), [
    ('{ $.eventType = "UpdateTrail" }', True),
    ("{ $.eventType = UpdateTrail }", True),                  # bare string value
    ('{ $.eventType = "Update*" }', True),                    # wildcard
    ('{ $.eventType = "*Trail" }', True),
    ('{ $.eventType = "update*" }', False),
    ('{ $.eventType != "UpdateTrail" }', False),
    ('{ $.eventType != "CreateTrail" }', True),
    ("{ $.sourceIPAddress = 123.123.* }", True),
    ("{ $.latency > 200 }", True),
    ("{ $.latency >= 250 }", True),
    ("{ $.latency < 250 }", False),
    ("{ $.latency = 250 }", True),
    ("{ $.latency = 2.5e2 }", True),
    ("{ $.latency != 250 }", False),
    ("{ $.ratio <= 0.5 }", True),
    ("{ $.count > 10 }", False),                              # a string is not a number in JSON
    ('{ $.count = "12" }', True),
    ("{ $.user.id = 7 }", True),
    ("{ $.user.name = ana }", True),
    ('{ $.tags[1] = "b" }', True),
    ('{ $.tags[5] = "b" }', False),
    ("{ $.user.admin IS TRUE }", True),
    ("{ $.quiet IS FALSE }", True),
    ("{ $.quiet IS TRUE }", False),
    ("{ $.gone IS NULL }", True),
    ("{ $.missing IS NULL }", False),
    ("{ $.missing NOT EXISTS }", True),
    ("{ $.gone NOT EXISTS }", False),
    ('{ $.missing = "x" }', False),
    ('{ $.missing != "x" }', False),
    ("{ $.errorCode = %Access.*% }", True),
    ('{ ($.latency > 500) || ($.errorCode = "AccessDenied") }', True),
    ('{ $.latency > 500 || $.errorCode = "Other" }', False),
    ('{ ($.eventType = "UpdateTrail") && ($.latency > 100) }', True),
    ('{ $.eventType = "UpdateTrail" && $.latency > 300 }', False),
    ('{ ($.latency > 500 || $.user.id = 7) && $.gone IS NULL }', True),
    ('{ $.latency > 500 || ($.user.id = 7 && $.gone IS NULL) }', True),
])
def test_json_patterns(pattern: str, expected: bool) -> None:
    assert matches(pattern, JSON_EVENT) is expected


def test_json_pattern_skips_events_that_are_not_json_objects() -> None:
    pattern = compile_pattern('{ $.level = "error" }')
    assert not pattern('level = "error"')
    assert not pattern('["error"]')
    assert pattern('{"level": "error"}')


# --- space-delimited --------------------------------------------------------------------------------------

def test_split_event_keeps_quoted_and_bracketed_text_together() -> None:
    assert split_event(APACHE) == ["127.0.0.1", "-", "frank", "10/Oct/2000:13:25:15 -0700",
                                   "GET /apache_pb.gif HTTP/1.0", "404", "1534"]


@pytest.mark.parametrize(("pattern", "expected"), [
    ("[ip, user, username, timestamp, request, status_code, bytes]", True),
    ("[ip, user, username, timestamp, request, status_code]", False),       # field count must agree
    ("[ip, user, username, timestamp, request, status_code = 404, bytes]", True),
    ("[ip, user, username, timestamp, request, status_code = 4*, bytes]", True),
    ("[ip, user, username, timestamp, request, status_code = 2*, bytes]", False),
    ("[ip, user, username, timestamp, request, status_code != 2*, bytes > 1000]", True),
    ("[ip, user, username, timestamp, request, status_code, bytes < 1000]", False),
    ('[ip, user, username = "frank", ...]', True),
    ('[ip, user, username, timestamp, request = "GET *", ...]', True),
    ("[..., status_code = 404, bytes]", True),
    ("[ip, ..., bytes > 1500]", True),
    ("[ip = 127.0.0.*, ..., status_code, bytes]", True),
    ("[..., status_code = 500 || status_code = 404, bytes]", True),
    ("[..., status_code >= 400 && status_code < 500, bytes]", True),
    ("[..., status_code >= 500 && status_code < 600, bytes]", False),
    ("[..., status_code = %40[0-9]%, bytes]", True),
    ("[ip = %^127%, ..., status_code = %^4%, bytes]", True),
    ("[ip, ...]", True),
    ("[...]", True),
])
def test_space_delimited_patterns(pattern: str, expected: bool) -> None:
    assert matches(pattern, APACHE) is expected


# --- refused ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("pattern", [
    "{ $.latency > }",
    "{ $.latency >> 5 }",
    '{ $.eventType > "abc" }',           # ordering needs a number
    "{ latency = 5 }",                   # selectors start with $
    "{ $.a = 1 && }",
    "{ ($.a = 1 }",
    "{ $.a IS MAYBE }",
    "{ $.a NOT THERE }",
    "{ $.a = 1",
    "{ }",
    "[ip, user",
    "[]",
    "[a, a]",
    "[a = 1 || b = 2]",
    "[a > x]",
    '"unbalanced',
    "%(group)%",
    "%bang!%",
    "{ $.a = 1 } extra }",
    "{ $.a = %a% || $.b = %b% || $.c = %c% }",   # at most two regular expressions
    "[a = %a%, b = %b%, c = %c%]",
    "ERROR }",
])
def test_invalid_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(FilterPatternError):
        compile_pattern(pattern)
