"""Lambda's configuration rules beyond its model: limits, runtimes, packages, small configuration blocks."""

from __future__ import annotations

import pytest

from controller.awslambda import validation
from controller.awslambda.errors import InvalidParameterValueException
from controller.awslambda.permissions import principal_of, statement_of


@pytest.mark.parametrize(("value", "bounds", "words"), [
    (10241, validation.MEMORY_RANGE, "less than or equal to 10240"),
    (127, validation.MEMORY_RANGE, "greater than or equal to 128"),
    (901, validation.TIMEOUT_RANGE, "less than or equal to 900"),
    (10241, validation.EPHEMERAL_RANGE, "less than or equal to 10240"),
])
def test_service_limits_are_refused_in_coral_words(value: int, bounds: tuple[int, int], words: str) -> None:
    with pytest.raises(InvalidParameterValueException, match=words):
        validation.check_range(value, "member", bounds)


def test_values_within_the_limits_pass() -> None:
    for value in (128, 10240, None):
        validation.check_range(value, "memorySize", validation.MEMORY_RANGE)


def test_runtimes() -> None:
    for runtime in validation.SUPPORTED_RUNTIMES:
        validation.check_runtime(runtime)
    with pytest.raises(InvalidParameterValueException, match=r"no longer supported.*\(python3.12\)"):
        validation.check_runtime("python3.7")
    with pytest.raises(InvalidParameterValueException, match="not supported by this cloud"):
        validation.check_runtime("java21")


def test_a_zip_needs_runtime_and_handler_and_an_image_takes_neither() -> None:
    validation.check_package("Zip", "python3.11", "app.handler")
    validation.check_package("Image", None, None)
    with pytest.raises(InvalidParameterValueException, match="mandatory"):
        validation.check_package("Zip", "python3.11", None)
    with pytest.raises(InvalidParameterValueException, match="not supported"):
        validation.check_package("Image", "python3.11", None)


def test_architectures_are_the_hosts() -> None:
    assert validation.check_architectures(None, "x86_64") == ["x86_64"]
    with pytest.raises(InvalidParameterValueException, match="arm64"):
        validation.check_architectures(["arm64"], "x86_64")


def test_layers_at_most_five_and_one_version_each() -> None:
    arn = "arn:aws:lambda:home-1:123456789012:layer:a"
    assert validation.check_layers([f"{arn}:1"]) == [f"{arn}:1"]
    with pytest.raises(InvalidParameterValueException, match="same layer"):
        validation.check_layers([f"{arn}:1", f"{arn}:2"])
    with pytest.raises(InvalidParameterValueException, match="more than 5"):
        validation.check_layers([f"{arn}{i}:1" for i in range(6)])


def test_logging_config_defaults_and_levels() -> None:
    assert validation.logging_config(None, "fn") == {"LogFormat": "Text", "LogGroup": "/aws/lambda/fn"}
    assert validation.logging_config({"LogFormat": "JSON"}, "fn")["ApplicationLogLevel"] == "INFO"
    with pytest.raises(InvalidParameterValueException, match="JSON"):
        validation.logging_config({"ApplicationLogLevel": "DEBUG"}, "fn")


def test_permission_principals_and_conditions_as_lambda_writes_them() -> None:
    assert principal_of("*") == "*"
    assert principal_of("123456789012") == {"AWS": "arn:aws:iam::123456789012:root"}
    assert principal_of("s3.amazonaws.com") == {"Service": "s3.amazonaws.com"}
    with pytest.raises(InvalidParameterValueException, match="principal was invalid"):
        principal_of("somebody")
    statement = statement_of({"StatementId": "url", "Action": "lambda:InvokeFunctionUrl", "Principal": "*",
                              "FunctionUrlAuthType": "NONE", "PrincipalOrgID": "o-abc"}, "arn:fn")
    assert statement["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": "o-abc",
                                                       "lambda:FunctionUrlAuthType": "NONE"}}


def test_dead_letter_targets_are_queues_or_topics() -> None:
    queue = "arn:aws:sqs:home-1:123456789012:dlq"
    assert validation.dead_letter({"TargetArn": queue}) == {"TargetArn": queue}
    assert validation.dead_letter({}) == {} and validation.dead_letter(None) is None
    with pytest.raises(InvalidParameterValueException, match="target arn"):
        validation.dead_letter({"TargetArn": "arn:aws:s3:::bucket"})
