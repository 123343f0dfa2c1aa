"""Scoring one model output against a Video-R1 eval solution, as the released evaluation does.

- The answer is the first ``<answer>...</answer>`` body (:func:`verl_videorft.rewards.text.extract_answer`);
  when the output has none, the **whole raw output** is the answer (the released eval's fallback;
  training scores such an output 0).
- multiple choice and numerical: the training scorer, :func:`verl_videorft.rewards.text.score_answer`.
- regression: Mean Relative Accuracy, ``mean over θ in {0.50, ..., 0.95} of 1[|o−g| / |g| < 1−θ]``,
  by default as the released eval computes it (float32, see :func:`mean_relative_accuracy`);
  training uses a different, continuous regression reward.
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

import numpy as np

from verl_videorft.rewards.text import AccuracyOptions, extract_answer, parse_number, score_answer

# θ = 0.50, 0.55, ..., 0.95 (ten thresholds, as VSI-Bench's MRA), as exact twentieths.
MRA_THRESHOLDS = tuple(Fraction(k, 20) for k in range(10, 20))

# The released eval: ``torch.arange(0.5, 0.95 + 0.05 / 2, 0.05, dtype=torch.float32)``. torch fills an
# arange as ``start + i * step`` in double and rounds each value to float32; the same here.
_THRESHOLDS_F32 = (0.5 + 0.05 * np.arange(10, dtype=np.float64)).astype(np.float32)
_EPS_F32 = np.float32(1e-8)


def released_mra(pred: float, target: float) -> float:
    """MRA as the released eval computes it, in float32 (torch semantics, reproduced with numpy).

    ``rel = |p − g| / (|g| + 1e-8)`` with ``p`` and ``g`` rounded to float32, then the share of the
    thresholds with ``rel < 1 − θ`` (float32, strict). Rounding makes exact ties count: an answer off by
    exactly 10 % scores 0.9 (exact arithmetic: 0.8), off by exactly 5 % 1.0 (exact: 0.9). A NaN
    anywhere scores 0, as in torch (every comparison is False).

    >>> released_mra(11.0, 10.0), released_mra(21.0, 20.0), released_mra(135.0, 100.0)
    (0.9, 1.0, 0.4)
    """
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        p, g = np.float32(pred), np.float32(target)
        rel = np.abs(p - g) / (np.abs(g) + _EPS_F32)
        hits = rel < (np.float32(1.0) - _THRESHOLDS_F32)
    return float(np.count_nonzero(hits)) / len(_THRESHOLDS_F32)


def exact_mra(pred: float, target: float) -> float:
    """MRA computed exactly on the decimal values (``Fraction(repr(x))``): the paper's definition.

    NaN/inf score 0; a target of 0 scores 1 only for an exact 0.

    >>> exact_mra(10.0, 10.0), exact_mra(11.0, 10.0), exact_mra(15.0, 10.0)
    (1.0, 0.8, 0.0)
    """
    if not (math.isfinite(pred) and math.isfinite(target)):
        return 0.0
    o, g = Fraction(repr(pred)), Fraction(repr(target))
    if g == 0:
        return 1.0 if o == 0 else 0.0
    rel = abs(o - g) / abs(g)
    return sum(rel < 1 - t for t in MRA_THRESHOLDS) / len(MRA_THRESHOLDS)


MRA_MODES = ("released", "exact")


def mean_relative_accuracy(pred: float, target: float, mode: str = "released") -> float:
    """MRA of one numeric prediction: ``"released"`` (float32, default) or ``"exact"`` arithmetic.

    >>> mean_relative_accuracy(11.0, 10.0), mean_relative_accuracy(11.0, 10.0, "exact")
    (0.9, 0.8)
    """
    if mode == "released":
        return released_mra(pred, target)
    if mode == "exact":
        return exact_mra(pred, target)
    raise ValueError(f"unknown MRA mode {mode!r}; expected one of {list(MRA_MODES)}")


def eval_answer(output: str) -> str:
    """The answer the released evaluation scores: the tagged answer, else the raw output."""
    answer = extract_answer(output)
    return answer if answer != "" else output


def score_sample(output: str, solution: str, problem_type: str, *,
                 options: AccuracyOptions | None = None, mra: str = "released") -> float:
    """Score in [0, 1] of a model output for a record's ``solution`` (``"<answer>X</answer>"``).

    ``options`` are the training scorers' opt-in fixes (default: faithful); ``mra`` is the
    regression arithmetic (:data:`MRA_MODES`). Never raises.
    """
    try:
        answer = eval_answer(output)
        gt = extract_answer(solution)
        if problem_type == "regression":
            o, g = parse_number(answer), parse_number(gt)
            return 0.0 if o is None or g is None else mean_relative_accuracy(o, g, mra)
        # score_answer takes already-extracted answers. Going through accuracy_reward with the
        # raw output re-wrapped in tags would re-extract and cut it at a stray "</answer>".
        return score_answer(answer, gt, problem_type, options)
    except Exception:  # as the released eval: one odd output scores 0, never stops the run
        return 0.0
