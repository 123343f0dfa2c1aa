"""``score_answer``: the one per-type scoring path shared by training's accuracy and the evaluation."""

from __future__ import annotations

import pytest

from verl_videorft.evaluation.scoring import score_sample
from verl_videorft.rewards.text import AccuracyOptions, accuracy_reward, score_answer


@pytest.mark.parametrize("answer, truth, problem_type, options, expected", [
    ("B", "B", "multiple choice", None, 1.0),
    ("5", "5.0", "numerical", None, 0.0),                                    # reference's decimal-marker quirk
    ("5", "5.0", "numerical", AccuracyOptions(value_numerical=True), 1.0),
    ("12", "10", "regression", None, pytest.approx(0.8)),
    (None, "B", "multiple choice", None, 0.0),
    ("B", None, "multiple choice", None, 0.0),
    ("B", "B", None, None, 0.0),
    ("B", "B", "Multiple choice", None, 0.0),                                # unknown type
])
def test_score_answer(answer, truth, problem_type, options, expected):
    assert score_answer(answer, truth, problem_type, options) == expected


# The released eval scores the raw output when it has no <answer> tag; training gives it 0.
@pytest.mark.parametrize("output, solution, problem_type, train, evaluation", [
    ("B", "<answer>B</answer>", "multiple choice", 0.0, 1.0),
    ("the cat", "<answer>the cat sat</answer>", "OCR", 0.0, pytest.approx(2 / 3)),
    ("<answer>B</answer>", "<answer>B</answer>", "multiple choice", 1.0, 1.0),
])
def test_untagged_output_training_vs_eval(output, solution, problem_type, train, evaluation):
    assert (accuracy_reward(output, solution, problem_type), score_sample(output, solution, problem_type)) == \
        (train, evaluation)
