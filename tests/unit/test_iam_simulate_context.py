"""ContextEntries of the simulator turned into the engine's context (controller/iam/simulate.py)."""

from __future__ import annotations

import pytest

from controller.iam.errors import InvalidInput
from controller.iam.simulate import context_entries


def test_scalars_and_lists() -> None:
    context = context_entries([
        {"ContextKeyName": "aws:username", "ContextKeyValues": ["bob"], "ContextKeyType": "string"},
        {"ContextKeyName": "aws:TagKeys", "ContextKeyValues": ["a", "b"], "ContextKeyType": "stringList"},
        {"ContextKeyName": "aws:SourceIp", "ContextKeyValues": ["10.0.0.1"], "ContextKeyType": "ip"},
        {"ContextKeyName": "aws:MultiFactorAuthPresent", "ContextKeyValues": ["TRUE"], "ContextKeyType": "boolean"},
        {"ContextKeyName": "aws:CurrentTime", "ContextKeyValues": ["2024-01-01T00:00:00Z"], "ContextKeyType": "date"},
        {"ContextKeyName": "aws:EpochTime", "ContextKeyValues": ["1700000000"], "ContextKeyType": "numeric"},
        {"ContextKeyName": "one:list", "ContextKeyValues": ["x"], "ContextKeyType": "stringList"},
    ])
    assert context == {"aws:username": "bob", "aws:TagKeys": ["a", "b"], "aws:SourceIp": "10.0.0.1",
                       "aws:MultiFactorAuthPresent": "TRUE", "aws:CurrentTime": "2024-01-01T00:00:00Z",
                       "aws:EpochTime": "1700000000", "one:list": ["x"]}
    assert context_entries(None) == {}


@pytest.mark.parametrize(("key_type", "value"), [("boolean", "yes"), ("numeric", "ten"), ("ip", "10.0.0.300"),
                                                 ("date", "yesterday")])
def test_values_must_fit_their_type(key_type: str, value: str) -> None:
    with pytest.raises(InvalidInput):
        context_entries([{"ContextKeyName": "k", "ContextKeyValues": [value], "ContextKeyType": key_type}])
