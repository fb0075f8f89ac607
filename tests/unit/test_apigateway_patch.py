"""The patchOperations applier and the method-settings paths every API Gateway Update* shares (pure)."""

from __future__ import annotations

import pytest

from controller.apigateway import patch
from controller.errors import ServiceError

RULES = (
    patch.Rule("/name"), patch.Rule("/enabled", "bool"), patch.Rule("/size", "int"), patch.Rule("/rate", "float"),
    patch.Rule("/variables/*"), patch.Rule("/variables", "any"), patch.Rule("/canary", "any"),
    patch.Rule("/canary/overrides", "any"), patch.Rule("/canary/overrides/*"), patch.Rule("/canary/deployment"),
    patch.Rule("/deployment"), patch.Rule("/binaryMediaTypes/*", "item"), patch.Rule("/stages", "values"),
)


def refused(doc: dict, operations: list[dict], code: str = "BadRequestException") -> str:
    with pytest.raises(ServiceError) as excinfo:
        patch.apply(doc, operations, RULES)
    assert excinfo.value.code == code
    return excinfo.value.message


def test_scalars_are_converted_from_the_wire_strings() -> None:
    doc = patch.apply({"name": "a"}, [
        {"op": "replace", "path": "/name", "value": "b"}, {"op": "replace", "path": "/enabled", "value": "TRUE"},
        {"op": "add", "path": "/size", "value": "7"}, {"op": "replace", "path": "/rate", "value": "2.5"}], RULES)
    assert doc == {"name": "b", "enabled": True, "size": 7, "rate": 2.5}
    assert "expected true or false" in refused({}, [{"op": "replace", "path": "/enabled", "value": "yes"}])
    assert "expected an integer" in refused({}, [{"op": "replace", "path": "/size", "value": "1.5"}])


def test_the_input_document_is_never_changed_and_a_bad_operation_refuses_all() -> None:
    original = {"name": "a", "variables": {"x": "1"}}
    patch.apply(original, [{"op": "remove", "path": "/variables/x"}], RULES)
    assert original == {"name": "a", "variables": {"x": "1"}}
    message = refused(original, [{"op": "replace", "path": "/name", "value": "b"},
                                 {"op": "replace", "path": "/nosuch", "value": "c"}])
    assert "/nosuch" in message and original["name"] == "a"


def test_unknown_ops_and_malformed_paths_are_refused() -> None:
    assert "Must be one of: [add, remove, replace, copy]" in refused({}, [{"op": "move", "path": "/name"}])
    refused({}, [{"op": "replace", "path": "name", "value": "x"}])
    refused({}, [{"op": "replace", "path": "/name"}])                    # no value
    refused({}, [{"op": "replace", "path": "/variables", "value": "x"}])  # a whole map only copies or goes


def test_map_entries_and_escaped_segments() -> None:
    doc = patch.apply({}, [{"op": "add", "path": "/variables/a", "value": "1"},
                           {"op": "add", "path": "/binaryMediaTypes/image~1png"},
                           {"op": "add", "path": "/binaryMediaTypes/application~1octet-stream"}], RULES)
    assert doc == {"variables": {"a": "1"}, "binaryMediaTypes": ["image/png", "application/octet-stream"]}
    doc = patch.apply(doc, [{"op": "remove", "path": "/binaryMediaTypes/image~1png"},
                            {"op": "replace", "path": "/binaryMediaTypes/application~1octet-stream",
                             "value": "*/*"}, {"op": "remove", "path": "/variables/a"}], RULES)
    assert doc == {"variables": {}, "binaryMediaTypes": ["*/*"]}


def test_list_values_are_added_once_and_removing_a_missing_one_is_not_found() -> None:
    doc = patch.apply({}, [{"op": "add", "path": "/stages", "value": "a:dev"},
                           {"op": "add", "path": "/stages", "value": "a:dev"}], RULES)
    assert doc == {"stages": ["a:dev"]}
    refused(doc, [{"op": "remove", "path": "/stages", "value": "b:prod"}], "NotFoundException")


def test_promoting_a_canary_by_copy_merges_its_overrides_into_the_variables() -> None:
    stage = {"deployment": "d1", "variables": {"backend": "old", "mode": "live"},
             "canary": {"deployment": "d2", "overrides": {"backend": "new"}}}
    promoted = patch.apply(stage, [
        {"op": "copy", "from": "/canary/deployment", "path": "/deployment"},
        {"op": "copy", "from": "/canary/overrides", "path": "/variables"},
        {"op": "remove", "path": "/canary"}], RULES)
    assert promoted == {"deployment": "d2", "variables": {"backend": "new", "mode": "live"}}
    refused(stage, [{"op": "copy", "from": "/elsewhere", "path": "/deployment"}])


@pytest.mark.parametrize(("path", "expected"), [
    ("/~1pets/GET/throttling/rateLimit", ("pets/GET", "throttlingRateLimit", "float")),
    ("/~1pets~1{id}/DELETE/throttling/burstLimit", ("pets/{id}/DELETE", "throttlingBurstLimit", "int")),
    ("/*/*/metrics/enabled", ("*/*", "metricsEnabled", "bool")),
    ("/*/*/logging/loglevel", ("*/*", "loggingLevel", "str")),
    ("/~1a~1b/ANY/caching/ttlInSeconds", ("a/b/ANY", "cacheTtlInSeconds", "int")),
    ("/variables/throttling", None), ("/throttling/rateLimit", None), ("/~1pets/GET/throttling/nope", None),
    ("/canarySettings/percentTraffic", None),
])
def test_method_setting_paths(path: str, expected: tuple | None) -> None:
    assert patch.method_setting_path(path) == expected


def test_method_settings_start_from_the_stage_settings_or_the_account_defaults() -> None:
    settings, rest = patch.apply_method_settings({}, [
        {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "100"},
        {"op": "replace", "path": "/~1pets/GET/throttling/burstLimit", "value": "3"},
        {"op": "replace", "path": "/description", "value": "kept for apply"}])
    assert rest == [{"op": "replace", "path": "/description", "value": "kept for apply"}]
    assert settings["*/*"] == {**patch.METHOD_SETTING_DEFAULTS, "throttlingRateLimit": 100.0}
    assert settings["pets/GET"]["throttlingBurstLimit"] == 3
    assert settings["pets/GET"]["throttlingRateLimit"] == 100.0          # the stage's, not the account's
    alone, _ = patch.apply_method_settings({}, [{"op": "replace", "path": "/~1a/GET/metrics/enabled", "value": "true"}])
    assert alone["a/GET"] == {**patch.METHOD_SETTING_DEFAULTS, "metricsEnabled": True}
    removed, _ = patch.apply_method_settings(settings, [{"op": "remove", "path": "/~1pets/GET/throttling/burstLimit"}])
    assert set(removed) == {"*/*"}
    with pytest.raises(ServiceError):
        patch.apply_method_settings({}, [{"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "fast"}])
