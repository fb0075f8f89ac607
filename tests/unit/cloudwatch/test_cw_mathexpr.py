"""Metric math (pure): parsing, arithmetic on series and scalars, and the functions."""

from __future__ import annotations

import pytest

from controller.cloudwatch.mathexpr import Environment, MathError, as_series, evaluate, parse, references

GRID = [0, 60, 120, 180]


def run(text: str, **series: dict[int, float]) -> object:
    metrics = {key: value for key, value in series.items() if key.startswith("m")}
    return evaluate(parse(text), Environment(dict(series), metrics, GRID))


def test_arithmetic_precedence_and_scalars() -> None:
    assert run("1 + 2 * 3") == 7.0
    assert run("(1 + 2) * 3") == 9.0
    assert run("-2 ^ 2 + 10 / 4") == 6.5
    assert run("m1 * 2 + 1", m1={0: 1.0, 60: 2.0}) == {0: 3.0, 60: 5.0}
    assert run("100 / m1", m1={0: 0.0, 60: 4.0}) == {60: 25.0}        # division by zero: no value


def test_series_with_series_keep_common_timestamps() -> None:
    assert run("m1 + m2", m1={0: 1.0, 60: 2.0}, m2={60: 10.0, 120: 1.0}) == {60: 12.0}


def test_aggregates_of_a_series_are_scalars_of_arrays_series() -> None:
    m1, m2 = {0: 1.0, 60: 3.0}, {0: 5.0, 60: 7.0}
    assert run("SUM(m1)", m1=m1) == 4.0
    assert run("AVG(m1)", m1=m1) == 2.0
    assert run("MAX([m1, m2])", m1=m1, m2=m2) == {0: 5.0, 60: 7.0}
    assert run("SUM(METRICS())", m1=m1, m2=m2) == {0: 6.0, 60: 10.0}
    assert run("MIN(METRICS(\"m2\"))", m1=m1, m2=m2) == {0: 5.0, 60: 7.0}    # the metrics whose id has "m2"


def test_rate_diff_fill_abs_if() -> None:
    m1 = {0: 10.0, 60: 40.0, 180: 100.0}
    assert run("DIFF(m1)", m1=m1) == {60: 30.0, 180: 60.0}
    assert run("RATE(m1)", m1=m1) == {60: 0.5, 180: 0.5}
    assert run("FILL(m1, 0)", m1=m1) == {0: 10.0, 60: 40.0, 120: 0.0, 180: 100.0}
    assert run("FILL(m1, REPEAT)", m1=m1)[120] == 40.0
    assert run("ABS(m1 - 50)", m1=m1) == {0: 40.0, 60: 10.0, 180: 50.0}
    assert run("IF(m1 > 20, 1, 0)", m1=m1) == {0: 0.0, 60: 1.0, 180: 1.0}


def test_scalar_results_become_flat_series() -> None:
    assert as_series(3.0, GRID) == {0: 3.0, 60: 3.0, 120: 3.0, 180: 3.0}
    with pytest.raises(MathError):
        as_series([{0: 1.0}], GRID)


def test_references_and_errors() -> None:
    assert references(parse("SUM([m1, e1]) / m2")) == {"m1", "e1", "m2"}
    for bad in ("", "1 +", "m1 m2", "(1", "FOO(m1)", "1 $ 2"):
        with pytest.raises(MathError):
            run(bad, m1={0: 1.0}, m2={0: 1.0})
    with pytest.raises(MathError):
        run("nothing + 1")
    with pytest.raises(MathError):
        run("SUM(1, 2)")
