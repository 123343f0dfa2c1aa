"""VideoRFT rewards: plain functions and a ``compute_score`` for verl.

    >>> from verl_videorft.rewards import format_reward, accuracy_reward, compute_score
    >>> c = "<think>Hmm.</think><answer>B</answer>"
    >>> format_reward(c), accuracy_reward(c, "<answer>B</answer>", "multiple choice")
    (1.0, 1.0)
    >>> compute_score("star", c, "<answer>B</answer>", {"problem_type": "multiple choice"})["score"]
    2.0

``compute_score`` is what ``reward.custom_reward_function.path=pkg://verl_videorft.rewards`` finds
(verl's default name). It returns ``accuracy + format`` (the paper's rule part, unweighted) with
each component as an extra key so verl logs it. The full VideoRFT reward is the ``videorft``
reward manager (:mod:`.manager`: semantic term, gate) with the ``videorft_sync`` trainer (the
group-aware length bonus, :mod:`.group_terms`).

Nothing heavy is imported here: the semantic encoder loads on first use, never at import.
"""

from __future__ import annotations

from typing import Any

from verl_videorft.prompts import PROBLEM_TYPES
from verl_videorft.rewards.text import (
    AccuracyOptions,
    accuracy_reward,
    extract_answer,
    format_reward,
    score_answer,
)

__all__ = ["format_reward", "accuracy_reward", "extract_answer", "score_answer", "AccuracyOptions",
           "PROBLEM_TYPES", "compute_score", "accuracy_score", "format_score", "semantic_score"]


def _problem_type(extra_info: Any) -> str:
    try:
        return str(extra_info.get("problem_type", "")) if extra_info else ""
    except AttributeError:  # not a mapping: no type, accuracy 0
        return ""


def accuracy_score(data_source: str, solution_str: str, ground_truth: str,
                   extra_info: dict | None = None, **kwargs: Any) -> float:
    """verl-style accuracy alone; ``problem_type`` comes from ``extra_info``.

    Extra kwargs (``reward.custom_reward_function.reward_kwargs``) may carry the
    :class:`AccuracyOptions` fields, e.g. ``lenient_choice=True``.

    >>> accuracy_score("x", "<answer>7</answer>", "<answer>7</answer>", {"problem_type": "numerical"})
    1.0
    """
    fixes = {k: v for k, v in kwargs.items() if k in AccuracyOptions.__dataclass_fields__}
    return accuracy_reward(solution_str, ground_truth, _problem_type(extra_info),
                           options=AccuracyOptions(**fixes) if fixes else None)


def format_score(data_source: str, solution_str: str, ground_truth: str,
                 extra_info: dict | None = None, **kwargs: Any) -> float:
    """verl-style format reward alone.

    >>> format_score("x", "<think>a</think><answer>b</answer>", "")
    1.0
    """
    return format_reward(solution_str)


def semantic_score(data_source: str, solution_str: str, ground_truth: str,
                   extra_info: dict | None = None, **kwargs: Any) -> float:
    """verl-style semantic reward alone (ungated), frames from ``extra_info["media_path"]``.

    Kwargs are :class:`~verl_videorft.rewards.semantic.SemanticConfig` fields (``encoder=``,
    ``aggregate=``, ...). Scores one completion per call, as the ``videorft`` manager does.
    """
    from verl_videorft.rewards.semantic import SemanticConfig, get_scorer

    info = extra_info or {}
    fields = {k: v for k, v in kwargs.items() if k in SemanticConfig.__dataclass_fields__}
    scorer = get_scorer(SemanticConfig(**fields))
    result = scorer.score_group([solution_str], info.get("media_path"), info.get("frame_profile"))
    return result.scores[0]


def compute_score(data_source: str, solution_str: str, ground_truth: str,
                  extra_info: dict | None = None, **kwargs: Any) -> dict[str, float]:
    """``accuracy + format`` with both components as extra info (for any verl recipe).

    >>> compute_score("x", "<answer>B</answer>", "<answer>B</answer>",
    ...               {"problem_type": "multiple choice"})
    {'score': 1.0, 'acc': 1.0, 'format': 0.0}
    """
    acc = accuracy_score(data_source, solution_str, ground_truth, extra_info, **kwargs)
    fmt = format_reward(solution_str)
    return {"score": acc + fmt, "acc": acc, "format": fmt}

