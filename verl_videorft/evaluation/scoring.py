"""Scoring one model output against a Video-R1 eval solution, as the released evaluation does.

- The answer is the first ``<answer>...</answer>`` body (:func:`verl_videorft.rewards.text.extract_answer`);
  when the output has none, the **whole raw output** is the answer (the released eval's fallback;
  training scores such an output 0).
- multiple choice and numerical: the training scorer, :func:`verl_videorft.rewards.text.score_answer`.
- regression: Mean Relative Accuracy, ``mean over θ in {0.50, ..., 0.95} of 1[|o−g| / |g| < 1−θ]``
  (training uses a different, continuous regression reward).
- anything else (OCR, free-form): ``score_answer`` too; an unknown type or any error scores 0.

>>> score_sample("<think>hmm</think><answer>B</answer>", "<answer>B</answer>", "multiple choice")
1.0
>>> score_sample("B", "<answer>B</answer>", "multiple choice")   # no tag: raw output is the answer
1.0
>>> score_sample("<answer>12</answer>", "<answer>10</answer>", "regression")  # rel. error 0.2
0.6
"""

from __future__ import annotations

import math
from fractions import Fraction

from verl_videorft.rewards.text import AccuracyOptions, extract_answer, score_answer

# θ = 0.50, 0.55, ..., 0.95 (ten thresholds, as VSI-Bench's MRA), as exact twentieths.
MRA_THRESHOLDS = tuple(Fraction(k, 20) for k in range(10, 20))


def parse_number(text: str) -> float | None:
    """``float()`` after removing commas (as training and the released eval); None if unparsable."""
    try:
        return float(text.replace(",", ""))
    except (ValueError, OverflowError, AttributeError):
        return None


def mean_relative_accuracy(pred: float, target: float) -> float:
    """MRA of one numeric prediction: the fraction of θ in ``MRA_THRESHOLDS`` with ``|o−g|/|g| < 1−θ``.

    Computed exactly on the decimal values (``Fraction(repr(x))``), so an integer count that is off by
    exactly 10 % is not at the mercy of float rounding. NaN/inf score 0; a target of 0 scores 1 only
    for an exact 0 (the released eval's epsilon gives the same).

    >>> mean_relative_accuracy(10.0, 10.0), mean_relative_accuracy(11.0, 10.0), mean_relative_accuracy(15.0, 10.0)
    (1.0, 0.8, 0.0)
    """
    if not (math.isfinite(pred) and math.isfinite(target)):
        return 0.0
    o, g = Fraction(repr(pred)), Fraction(repr(target))
    if g == 0:
        return 1.0 if o == 0 else 0.0
    rel = abs(o - g) / abs(g)
    return sum(rel < 1 - t for t in MRA_THRESHOLDS) / len(MRA_THRESHOLDS)


def eval_answer(output: str) -> str:
    """The answer the released evaluation scores: the tagged answer, else the raw output."""
    answer = extract_answer(output)
    return answer if answer != "" else output


def score_sample(output: str, solution: str, problem_type: str, *,
                 options: AccuracyOptions | None = None) -> float:
    """Score in [0, 1] of a model output for a record's ``solution`` (``"<answer>X</answer>"``).

    ``options`` are the training scorers' opt-in fixes (default: faithful). Never raises.
    """
    try:
        answer = eval_answer(output)
        gt = extract_answer(solution)
        if problem_type == "regression":
            o, g = parse_number(answer), parse_number(gt)
            return 0.0 if o is None or g is None else mean_relative_accuracy(o, g)
        # score_answer takes already-extracted answers. Going through accuracy_reward with the
        # raw output re-wrapped in tags would re-extract and cut it at a stray "</answer>".
        return score_answer(answer, gt, problem_type, options)
    except Exception:  # as the released eval: one odd output scores 0, never stops the run
        return 0.0
