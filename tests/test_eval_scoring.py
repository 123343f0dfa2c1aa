"""score_sample: the released evaluation's scoring (raw-output fallback, MRA for regression)."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verl_videorft.evaluation import score_sample
from verl_videorft.evaluation.scoring import eval_answer, mean_relative_accuracy


@pytest.mark.parametrize("output, solution, expected", [
    ("<think>x</think><answer>B</answer>", "<answer>B</answer>", 1.0),
    ("<think>x</think><answer> B </answer>", "<answer>B</answer>", 1.0),
    ("B", "<answer>B</answer>", 1.0),                      # no tag: the raw output is the answer
    ("  B\n", "<answer>B</answer>", 1.0),
    ("The answer is B", "<answer>B</answer>", 0.0),
    ("<answer>b</answer>", "<answer>B</answer>", 0.0),     # case-sensitive, as training
    ("<answer>B.</answer>", "<answer>B</answer>", 0.0),
    ("<answer>A</answer> then B", "<answer>B</answer>", 0.0),
    ("B</answer>", "<answer>B</answer>", 0.0),             # untagged raw output is compared whole
    ("<answer>B", "<answer>B</answer>", 0.0),
])
def test_multiple_choice(output, solution, expected):
    assert score_sample(output, solution, "multiple choice") == expected


@pytest.mark.parametrize("output, solution, expected", [
    ("<answer>42</answer>", "<answer>42</answer>", 1.0),
    ("42", "<answer>42</answer>", 1.0),
    ("<answer>42.0</answer>", "<answer>42</answer>", 0.0),     # decimal-marker quirk of training
    ("<answer>3.141</answer>", "<answer>3.14</answer>", 1.0),  # round(., 2)
    ("<answer>1,000</answer>", "<answer>1000</answer>", 0.0),
    ("<answer>forty-two</answer>", "<answer>42</answer>", 0.0),
])
def test_numerical(output, solution, expected):
    assert score_sample(output, solution, "numerical") == expected


@pytest.mark.parametrize("output, expected", [
    ("<answer>10</answer>", 1.0),
    ("<answer>10.0</answer>", 1.0),      # no decimal-marker check for regression
    ("<answer>11</answer>", 0.8),        # rel. error 0.1 is not < 1 - 0.9
    ("<answer>9</answer>", 0.8),
    ("<answer>12</answer>", 0.6),
    ("<answer>14.9</answer>", 0.1),
    ("<answer>15</answer>", 0.0),        # rel. error 0.5 is not < 1 - 0.5
    ("12", 0.6),                         # raw fallback
    ("<answer>1,0</answer>", 1.0),       # commas are removed before float(), as in training
    ("<answer>ten</answer>", 0.0),
    ("<answer>nan</answer>", 0.0),
    ("<answer>inf</answer>", 0.0),
])
def test_regression_mra(output, expected):
    assert score_sample(output, "<answer>10</answer>", "regression") == pytest.approx(expected)


def test_regression_zero_ground_truth():
    assert score_sample("<answer>0</answer>", "<answer>0</answer>", "regression") == 1.0
    assert score_sample("<answer>0.1</answer>", "<answer>0</answer>", "regression") == 0.0


def test_other_types_and_garbage_never_raise():
    assert score_sample("<answer>red car</answer>", "<answer>red car</answer>", "free-form") == pytest.approx(1.0)
    assert score_sample("<answer>hello world</answer>", "<answer>hello world</answer>", "OCR") == 1.0
    assert score_sample("<answer>A</answer>", "<answer>A</answer>", "Multiple Choice") == 0.0
    assert score_sample(None, "<answer>A</answer>", "multiple choice") == 0.0  # type: ignore[arg-type]
    assert score_sample("<answer>A</answer>", None, "multiple choice") == 0.0  # type: ignore[arg-type]


def test_eval_answer_fallback():
    assert eval_answer("<think>t</think><answer> C </answer>") == "C"
    assert eval_answer("just C") == "just C"


def _mra_reference(o: float, g: float) -> float:
    # The paper's definition, written plainly over exact decimals.
    o_, g_ = Fraction(repr(o)), Fraction(repr(g))
    hits = [abs(o_ - g_) / abs(g_) < 1 - Fraction(50 + 5 * i, 100) for i in range(10)]
    return sum(hits) / 10


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 500), st.integers(0, 1000))
def test_mra_matches_definition_on_counts(g, o):
    assert mean_relative_accuracy(float(o), float(g)) == _mra_reference(float(o), float(g))


@settings(max_examples=200, deadline=None)
@given(st.floats(0.01, 1e4), st.floats(-1e4, 1e4))
def test_mra_bounds_and_monotone(g, o):
    m = mean_relative_accuracy(o, g)
    assert 0.0 <= m <= 1.0 and math.isclose(m * 10, round(m * 10))
    closer = (o + g) / 2  # halfway to the truth never scores lower
    assert mean_relative_accuracy(closer, g) >= m
