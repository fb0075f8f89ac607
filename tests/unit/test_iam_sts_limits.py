"""STS's durations, session tags and packed sizes (controller/sts/limits.py)."""

from __future__ import annotations

import pytest

from controller.errors import ServiceError
from controller.sts import limits


def test_role_session_durations() -> None:
    assert limits.role_session_seconds(None, 3600, chained=False) == 3600
    assert limits.role_session_seconds(7200, 43200, chained=False) == 7200
    with pytest.raises(ServiceError, match="MaxSessionDuration"):
        limits.role_session_seconds(7200, 3600, chained=False)
    with pytest.raises(ServiceError, match="role chaining"):
        limits.role_session_seconds(5400, 43200, chained=True)
    with pytest.raises(ServiceError, match="greater than or equal to 900"):
        limits.role_session_seconds(899, 3600, chained=False)


def test_the_minimum_is_a_setting_for_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDLET_MIN_SESSION_SECONDS", "2")
    assert limits.role_session_seconds(2, 3600, chained=False) == 2
    with pytest.raises(ServiceError):
        limits.role_session_seconds(1, 3600, chained=False)
    monkeypatch.setenv("CLOUDLET_MIN_SESSION_SECONDS", "nonsense")
    assert limits.min_session_seconds() == 900


def test_session_token_durations() -> None:
    assert limits.session_token_seconds(None, root=False) == 43200
    assert limits.session_token_seconds(None, root=True) == 3600
    assert limits.session_token_seconds(129600, root=False) == 129600
    with pytest.raises(ServiceError):
        limits.session_token_seconds(129601, root=False)


def test_session_tags_and_transitive_keys() -> None:
    tags, keys = limits.session_tags([{"Key": "team", "Value": "a"}, {"Key": "cc", "Value": "1"}], {}, ["team"])
    assert (tags, keys) == ({"team": "a", "cc": "1"}, ["team"])
    chained, chained_keys = limits.session_tags([{"Key": "new", "Value": "x"}], {"team": "a"}, None)
    assert (chained, chained_keys) == ({"team": "a", "new": "x"}, ["team"])
    with pytest.raises(ServiceError, match="transitive"):
        limits.session_tags([{"Key": "TEAM", "Value": "b"}], {"team": "a"}, None)
    with pytest.raises(ServiceError, match="Duplicate"):
        limits.session_tags([{"Key": "k", "Value": "1"}, {"Key": "K", "Value": "2"}], {}, None)
    with pytest.raises(ServiceError, match="must also be a session tag"):
        limits.session_tags([{"Key": "k", "Value": "1"}], {}, ["other"])


def test_packed_policy_size() -> None:
    assert limits.packed_policy_percent(None, [], {}) == 0
    small = limits.packed_policy_percent('{"Version": "2012-10-17"}', ["arn:aws:iam::aws:policy/X"], {"a": "b"})
    assert 0 < small < 5
    big = limits.packed_policy_percent("x" * 3000, [], {})
    assert big == 147
    limits.check_packed_size(100)
    with pytest.raises(ServiceError, match="147%"):
        limits.check_packed_size(big)


def test_session_tokens_are_long_and_fresh() -> None:
    first, second = limits.new_session_token(), limits.new_session_token()
    assert first != second and len(first) > 300
