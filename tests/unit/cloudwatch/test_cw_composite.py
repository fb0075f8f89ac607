"""The AlarmRule language of composite alarms (pure)."""

from __future__ import annotations

import pytest

from controller.cloudwatch.composite import RuleError, alarm_names, evaluate, parse


def test_parse_and_evaluate() -> None:
    states = {"a": "ALARM", "b": "OK", "c b": "INSUFFICIENT_DATA"}
    rule = parse('ALARM(a) AND (OK(b) OR ALARM("c b")) AND NOT INSUFFICIENT_DATA(a)')
    assert alarm_names(rule) == ["a", "b", "c b"]
    assert evaluate(rule, states.__getitem__) is True
    assert evaluate(parse('ALARM(a) AND ALARM("c b")'), states.__getitem__) is False
    assert evaluate(parse("ALARM(b) OR INSUFFICIENT_DATA(\"c b\")"), states.__getitem__) is True


def test_and_binds_tighter_than_or() -> None:
    states = {"a": "ALARM", "b": "OK", "c": "OK"}
    assert evaluate(parse("ALARM(a) OR ALARM(b) AND ALARM(c)"), states.__getitem__) is True
    assert evaluate(parse("(ALARM(a) OR ALARM(b)) AND ALARM(c)"), states.__getitem__) is False


def test_constants_and_arns() -> None:
    assert evaluate(parse("TRUE"), lambda name: "OK") is True
    assert evaluate(parse("NOT FALSE AND TRUE"), lambda name: "OK") is True
    arn = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:cpu"
    assert alarm_names(parse(f"ALARM({arn})")) == [arn]


@pytest.mark.parametrize("bad", ["", "ALARM(a) AND", "ALARM a", "ALARM()", "(ALARM(a)", "ALARMS(a)", "a",
                                 "ALARM(a) XOR OK(b)", "x" * 10241])
def test_malformed_rules(bad: str) -> None:
    with pytest.raises(RuleError):
        parse(bad)
