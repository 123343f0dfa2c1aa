"""``score_answer``: the one per-type scoring path shared by training's accuracy and the evaluation."""

from __future__ import annotations

import doctest

import pytest

from verl_videorft.evaluation.scoring import score_sample
from verl_videorft.rewards import text
from verl_videorft.rewards.text import AccuracyOptions, accuracy_reward, extract_answer, score_answer

CASES = [
    ("<think>.</think><answer>B</answer>", "<answer>B</answer>", "multiple choice"),
    ("<answer>(B)</answer>", "<answer>B</answer>", "multiple choice"),
    ("<answer>5</answer>", "<answer>5.0</answer>", "numerical"),
    ("<answer>1,000</answer>", "<answer>1000</answer>", "numerical"),
    ("<answer>the cat sat</answer>", "<answer>The cat sat.</answer>", "OCR"),
    ("<answer>a ball rolls to the left</answer>", "<answer>the ball rolls left</answer>", "free-form"),
    ("<answer>12</answer>", "<answer>10</answer>", "regression"),
    ("<answer>inf</answer>", "<answer>3</answer>", "regression"),
    ("<answer>B</answer>", "<answer>B</answer>", "Multiple choice"),  # unknown type
    ("no tags", "<answer>B</answer>", "multiple choice"),
]


@pytest.mark.parametrize("options", [None, AccuracyOptions(lenient_choice=True, value_numerical=True,
                                                           regression_zero_fix=True, normalize_ocr=True)])
@pytest.mark.parametrize("completion, solution, ptype", CASES)
def test_accuracy_reward_is_extraction_then_score_answer(completion, solution, ptype, options):
    expected = score_answer(extract_answer(completion), extract_answer(solution), ptype, options)
    assert accuracy_reward(completion, solution, ptype, options=options) == expected
    assert 0.0 <= expected <= 1.0


def test_score_answer_values_and_bad_input():
    assert score_answer("B", "B", "multiple choice") == 1.0
    assert score_answer("5", "5.0", "numerical") == 0.0  # reference's decimal-marker quirk
    assert score_answer("5", "5.0", "numerical", AccuracyOptions(value_numerical=True)) == 1.0
    assert score_answer("12", "10", "regression") == pytest.approx(0.8)
    assert score_answer(None, "B", "multiple choice") == 0.0  # type: ignore[arg-type]
    assert score_answer("B", "B", None) == 0.0  # type: ignore[arg-type]


def test_eval_scores_an_untagged_output_through_score_answer():
    # the released eval scores the raw output when it has no <answer> tag; training gives it 0
    assert score_sample("B", "<answer>B</answer>", "multiple choice") == 1.0
    assert accuracy_reward("B", "<answer>B</answer>", "multiple choice") == 0.0
    assert score_sample("the cat", "<answer>the cat sat</answer>", "OCR") == \
        score_answer("the cat", "the cat sat", "OCR") == pytest.approx(2 / 3)


def test_text_doctests_pass():
    result = doctest.testmod(text)
    assert result.attempted >= 10 and result.failed == 0
