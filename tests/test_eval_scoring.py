"""score_sample: the released evaluation's scoring (raw-output fallback, MRA for regression)."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verl_videorft.evaluation import score_sample
from verl_videorft.evaluation.scoring import eval_answer, exact_mra, mean_relative_accuracy, released_mra


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


# Released MRA (float32): ties at a threshold count, because 1 − float32(θ) lands just above the tie.
@pytest.mark.parametrize("output, expected", [
    ("<answer>10</answer>", 1.0),
    ("<answer>10.0</answer>", 1.0),      # no decimal-marker check for regression
    ("<answer>11</answer>", 0.9),        # off by exactly 10 %: exact arithmetic gives 0.8
    ("<answer>9</answer>", 0.9),
    ("<answer>12</answer>", 0.6),
    ("<answer>14.9</answer>", 0.1),
    ("<answer>15</answer>", 0.0),        # off by 50 %: no threshold left
    ("12", 0.6),                         # raw fallback
    ("<answer>1,0</answer>", 1.0),       # commas are removed before float(), as in training
    ("<answer>ten</answer>", 0.0),
    ("<answer>nan</answer>", 0.0),
    ("<answer>inf</answer>", 0.0),
])
def test_regression_mra(output, expected):
    assert score_sample(output, "<answer>10</answer>", "regression") == pytest.approx(expected)


@pytest.mark.parametrize("pred, target, released, exact", [
    (21.0, 20.0, 1.0, 0.9),      # off by exactly 5 %
    (19.0, 20.0, 1.0, 0.9),
    (11.0, 10.0, 0.9, 0.8),      # off by exactly 10 %
    (110.0, 100.0, 0.9, 0.8),
    (135.0, 100.0, 0.4, 0.3),    # off by exactly 35 %
    (65.0, 100.0, 0.4, 0.3),
    (10.4, 10.0, 1.0, 1.0),      # 4 %: no tie, both agree
    (13.0, 10.0, 0.4, 0.4),      # 30 %: here float32 keeps the tie (0.3f == 1 - 0.7f), both 0.4
    (0.0, 0.0, 1.0, 1.0),
    (1e-9, 0.0, 0.9, 0.0),       # target 0: the released epsilon gives partial credit
    (5.0, 0.0, 0.0, 0.0),
    (float("nan"), 10.0, 0.0, 0.0),
    (float("inf"), 10.0, 0.0, 0.0),
    (1e39, 10.0, 0.0, 0.0),      # beyond float32: inf
])
def test_mra_released_vs_exact(pred, target, released, exact):
    assert (released_mra(pred, target), exact_mra(pred, target)) == (released, exact)


@pytest.mark.parametrize("mode, expected", [("released", 0.9), ("exact", 0.8)])
def test_mra_mode_selects_the_arithmetic(mode, expected):
    assert score_sample("<answer>11</answer>", "<answer>10</answer>", "regression", mra=mode) == expected


def test_mra_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="unknown MRA mode"):
        mean_relative_accuracy(1.0, 1.0, "float16")


def _torch_mra(pred: float, target: float) -> float:
    # The released eval's function, written from its description (float32 torch).
    import torch

    p, t = torch.tensor(pred, dtype=torch.float32), torch.tensor(target, dtype=torch.float32)
    rel = torch.abs(p - t) / (torch.abs(t) + 1e-8)
    thresholds = torch.arange(0.5, 0.95 + 0.05 / 2, 0.05, dtype=torch.float32)
    return (rel < (1 - thresholds)).float().mean().item()


@settings(max_examples=400, deadline=None)
@given(st.integers(0, 2000), st.integers(-50, 3000))
def test_released_mra_matches_torch_float32_on_counts(g, o):
    assert released_mra(float(o), float(g)) == pytest.approx(_torch_mra(float(o), float(g)), abs=1e-6)


@settings(max_examples=300, deadline=None)
@given(st.floats(-1e6, 1e6, allow_nan=False), st.floats(-1e6, 1e6, allow_nan=False))
def test_released_mra_matches_torch_float32_on_floats(o, g):
    assert released_mra(o, g) == pytest.approx(_torch_mra(o, g), abs=1e-6)


@pytest.mark.parametrize("output, solution, problem_type, expected", [
    ("<answer>red car</answer>", "<answer>red car</answer>", "free-form", pytest.approx(1.0)),
    ("<answer>hello world</answer>", "<answer>hello world</answer>", "OCR", 1.0),
    ("<answer>A</answer>", "<answer>A</answer>", "Multiple Choice", 0.0),
    (None, "<answer>A</answer>", "multiple choice", 0.0),
    ("<answer>A</answer>", None, "multiple choice", 0.0),
])
def test_other_types_and_garbage_never_raise(output, solution, problem_type, expected):
    assert score_sample(output, solution, problem_type) == expected


@pytest.mark.parametrize("output, expected", [
    ("<think>t</think><answer> C </answer>", "C"),
    ("just C", "just C"),
])
def test_eval_answer_fallback(output, expected):
    assert eval_answer(output) == expected


def _mra_reference(o: float, g: float) -> float:
    # The paper's definition, written plainly over exact decimals.
    o_, g_ = Fraction(repr(o)), Fraction(repr(g))
    hits = [abs(o_ - g_) / abs(g_) < 1 - Fraction(50 + 5 * i, 100) for i in range(10)]
    return sum(hits) / 10


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 500), st.integers(0, 1000))
def test_exact_mra_matches_definition_on_counts(g, o):
    assert exact_mra(float(o), float(g)) == _mra_reference(float(o), float(g))


@settings(max_examples=200, deadline=None)
@given(st.floats(0.01, 1e4), st.floats(-1e4, 1e4), st.sampled_from(["released", "exact"]))
def test_mra_bounds_and_monotone(g, o, mode):
    m = mean_relative_accuracy(o, g, mode)
    assert 0.0 <= m <= 1.0 and math.isclose(m * 10, round(m * 10))
    closer = (o + g) / 2  # halfway to the truth never scores lower
    assert mean_relative_accuracy(closer, g, mode) >= m
