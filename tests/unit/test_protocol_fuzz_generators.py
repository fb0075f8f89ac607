"""The API fuzzer's generators (tests/fuzz): plausible inputs are valid, hostile ones are not, mutations stay close."""

from __future__ import annotations

import pytest
from botocore.validate import ParamValidator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.protocol import load_service_model
from tests.fuzz.mutate import INSERTS, has_document_body, mutated, serialized
from tests.fuzz.raw import json_member_bodies, query_cases, s3_cases
from tests.fuzz.shapes import InputStrategies

CASES = [("iam", "CreateUser"), ("ec2", "RunInstances"), ("organizations", "CreatePolicy"), ("s3", "PutObjectTagging"),
         ("sts", "AssumeRole"), ("cloudtrail", "LookupEvents")]
FAST = settings(max_examples=40, deadline=None, database=None, derandomize=True,
                suppress_health_check=list(HealthCheck))


def type_errors(operation_name: str, service: str, params: dict) -> list[str]:
    """botocore's own complaints about types and required members (not lengths: those it leaves to AWS)."""
    operation = load_service_model(service).operation_model(operation_name)
    report = ParamValidator().validate(params, operation.input_shape)
    return [line for line in report.generate_report().splitlines()
            if "Invalid type" in line or "Missing required" in line or "Unknown parameter" in line]


@pytest.mark.parametrize(("service", "operation_name"), CASES)
def test_calm_inputs_are_well_typed(service: str, operation_name: str) -> None:
    operation = load_service_model(service).operation_model(operation_name)
    calm = InputStrategies({}, protocol=operation.service_model.metadata["protocol"], hostile=0)

    @FAST
    @given(calm._structure(operation.input_shape, 0))
    def check(params: dict) -> None:
        missing_ok = [line for line in type_errors(operation_name, service, params) if "Missing required" not in line]
        assert missing_ok == []

    check()


def test_hostile_inputs_break_the_model() -> None:
    operation = load_service_model("organizations").operation_model("CreatePolicy")
    hostile = InputStrategies({}, protocol="json", hostile=10)
    broken = []

    @FAST
    @given(hostile._structure(operation.input_shape, 0))
    def collect(params: dict) -> None:
        broken.append(bool(type_errors("CreatePolicy", "organizations", params)) or any(
            isinstance(value, str) and len(value) > 1000 for value in params.values()))

    collect()
    assert sum(broken) > len(broken) // 2


def test_anchors_are_used_for_identifiers() -> None:
    operation = load_service_model("iam").operation_model("GetUser")
    strategies = InputStrategies({"UserName": ["fuzz-user"]}, protocol="query", hostile=0)
    seen = []

    @FAST
    @given(strategies._structure(operation.input_shape, 0))
    def collect(params: dict) -> None:
        seen.append(params.get("UserName"))

    collect()
    assert "fuzz-user" in seen


def _one_edit_away(body: bytes, changed: bytes) -> bool:
    """A prefix, one byte replaced, one of the inserts added somewhere, or the body twice."""
    if body.startswith(changed) or changed == body + body:
        return True
    if len(changed) == len(body):
        return sum(a != b for a, b in zip(body, changed, strict=True)) <= 1
    return any(changed[:i] + changed[i + len(insert):] == body and changed[i:i + len(insert)] == insert
               for insert in INSERTS for i in range(len(changed) - len(insert) + 1))


@given(st.binary(max_size=64), st.data())
@FAST
def test_mutations_are_one_edit_away(body: bytes, data: st.DataObject) -> None:
    assert _one_edit_away(body, data.draw(mutated(body)))


def test_serialized_requests_carry_a_document() -> None:
    s3 = load_service_model("s3")
    tagging = s3.operation_model("PutBucketTagging")
    assert has_document_body(tagging) and not has_document_body(s3.operation_model("GetObject"))
    case = serialized(tagging, {"Bucket": "b", "Tagging": {"TagSet": [{"Key": "k", "Value": "v"}]}})
    assert case is not None and case.target == "/b?tagging" and b"<Key>k</Key>" in case.body
    iam = load_service_model("iam").operation_model("CreateUser")
    case = serialized(iam, {"UserName": "u"})
    assert case is not None and b"Action=CreateUser" in case.body


def test_raw_cases_cover_each_protocol() -> None:
    iam = load_service_model("iam")
    assert len(query_cases(iam, "ListUsers")) > 20
    bodies = json_member_bodies(load_service_model("organizations").operation_model("CreatePolicy"))
    assert any(note.startswith("Content wrong type") for note, _ in bodies)
    notes = {case.note for case in s3_cases("b", "k")}
    assert "s3 put ?tagging entity bomb" in notes and "s3 GET range" in notes
