"""T-GRPO's temporal bonus (Video-R1's temporal contrast): pure arithmetic on one group's accuracies.

For a video prompt's group of rollouts: ``ordered`` is the mean accuracy of its rollouts on the
frames in order, ``shuffled`` the mean accuracy of its shuffled-frame rollouts (generated and scored
by the agent loop, never trained on: :mod:`verl_videorft.rollout.temporal`). When
``ordered >= mu * shuffled``, each rollout whose accuracy exceeds ``acc_threshold`` gets ``alpha``
added to its accuracy reward, i.e. ``w_acc * alpha`` to its score (Video-R1 has no reward weights:
there it is ``+0.3``). The released trainer (Video-R1 ``vllm_grpo_trainer_modified.py``) computes
both means per prompt, with ``mu = 0.8``; the Video-R1 paper writes ``mu = 1``.

No bonus (all zeros) for a group without video (images: no shuffled rollouts, as the released
``if self.temporal and video_inputs``) or whose shuffled results all failed to arrive: the
condition cannot be evaluated, and an unevaluated contrast must not pay. Rows the caller passes
are the group's usable members (the trainer drops aborted and padding rows first).

    >>> from verl_videorft.config import RewardConfig, TemporalConfig
    >>> cfg = RewardConfig(temporal=TemporalConfig(enable=True))
    >>> group = [Row(1.0, (0.0,)), Row(0.0, (1.0,)), Row(1.0, ())]   # ordered 2/3 >= 0.8 * 1/2
    >>> temporal_bonus(group, cfg)
    [0.3, 0.0, 0.3]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from verl_videorft.config import RewardConfig, TemporalConfig


class TemporalMember(Protocol):
    """What the bonus reads of a group member (``group_terms.Member`` has these)."""

    acc: float
    shuffled_acc: tuple[float, ...]  # accuracies of the shuffled rollouts this member generated
    video: bool  # the prompt has a video (image / text prompts get no shuffled rollouts)


@dataclass(frozen=True)
class Row:
    """A minimal :class:`TemporalMember` (tests, doctests)."""

    acc: float
    shuffled_acc: tuple[float, ...] = ()
    video: bool = True


@dataclass(frozen=True)
class Contrast:
    """One group's ordered and shuffled mean accuracies and whether the ordered frames won."""

    ordered: float
    shuffled: float
    holds: bool
    n_shuffled: int


def contrast(group: Sequence[TemporalMember], config: TemporalConfig) -> Contrast | None:
    """The group's contrast, or ``None`` when it has no video or no shuffled result arrived.

    >>> contrast([Row(0.4, (0.5,))], TemporalConfig()).holds   # 0.4 >= 0.8 * 0.5: the boundary pays
    True
    """
    shuffled = [float(a) for m in group for a in m.shuffled_acc]
    if not group or not shuffled or not any(m.video for m in group):
        return None
    ordered_mean = sum(float(m.acc) for m in group) / len(group)
    shuffled_mean = sum(shuffled) / len(shuffled)
    return Contrast(ordered_mean, shuffled_mean, ordered_mean >= config.mu * shuffled_mean, len(shuffled))


def temporal_bonus(group: Sequence[TemporalMember], config: RewardConfig) -> list[float]:
    """A group term (:data:`~verl_videorft.rewards.group_terms.GROUP_TERMS`): the score each member gains."""
    tc = config.temporal
    found = contrast(group, tc) if tc.enable else None
    if found is None or not found.holds:
        return [0.0] * len(group)
    value = config.weights.accuracy * tc.alpha
    return [value if float(m.acc) > tc.acc_threshold else 0.0 for m in group]


def temporal_metrics(groups: Sequence[Sequence[TemporalMember]], config: TemporalConfig,
                     planned: int = 0) -> dict[str, float]:
    """Per-step ``tgrpo/*``: over the video groups whose contrast could be evaluated, the mean
    ordered and shuffled accuracies and the share where the ordered frames won (``bonus_rate``,
    Video-R1's ``temporal_rewards``); counts of video groups, groups with no shuffled result, and
    shuffled rollouts that arrived versus ``planned``.

    >>> m = temporal_metrics([[Row(1.0, (0.0,)), Row(1.0)], [Row(0.0, (1.0,))], [Row(1.0, video=False)]],
    ...                      TemporalConfig(), planned=3)
    >>> m["tgrpo/bonus_rate"], m["tgrpo/video_groups"], m["tgrpo/shuffled_missing"]
    (0.5, 2.0, 1.0)
    """
    video = [g for g in groups if any(m.video for m in g)]
    found = [c for c in (contrast(g, config) for g in video) if c is not None]
    arrived = sum(c.n_shuffled for c in found)
    out = {"tgrpo/video_groups": float(len(video)), "tgrpo/groups_without_shuffled": float(len(video) - len(found)),
           "tgrpo/shuffled_rollouts": float(arrived), "tgrpo/shuffled_missing": float(max(planned - arrived, 0))}
    if found:
        out["tgrpo/ordered_acc"] = sum(c.ordered for c in found) / len(found)
        out["tgrpo/shuffled_acc"] = sum(c.shuffled for c in found) / len(found)
        out["tgrpo/bonus_rate"] = sum(c.holds for c in found) / len(found)
    return out
