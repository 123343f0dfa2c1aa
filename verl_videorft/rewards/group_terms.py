"""Reward terms that need a prompt's whole group of rollouts, computed where groups are complete.

verl 0.9.1 scores each trajectory alone, as soon as it finishes; the V1 trainer later hands the
advantage step whole groups (``trainer_base._compute_advantage``: ``rm_scores`` of every rollout of
the batch's prompts). The ``videorft_sync`` trainer (:mod:`verl_videorft.trainer`) calls
:func:`compute_group_terms` there, before advantages, and adds the result to the token-level
scores. Nothing waits: a group is whatever members reached the batch.

A group term is a function ``(members of one group, RewardConfig) -> one value per member``;
:data:`GROUP_TERMS` lists them by name (the length bonus, and T-GRPO's temporal bonus: :mod:`.temporal`).
A *partial* group (fewer members than ``rollout.n``: verl keeps failed groups sampleable and pads
the missing trajectories) gets its terms from the members it has; an *aborted* member (the agent
loop replaced it, or it carries no reward) counts for nothing and gets nothing; verl's padding
rows are ignored. Both are counted in the metrics.

    >>> from verl_videorft.config import RewardConfig
    >>> rows = [Member("u", acc=1.0, length=400), Member("u", acc=1.0, length=100), Member("u", 0.0, 400)]
    >>> compute_group_terms(rows, RewardConfig(), group_size=3).terms["length_bonus"].tolist()
    [0.2, 0.0, 0.0]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from verl_videorft.config import RewardConfig
from verl_videorft.names import ACC_KEY, ERROR_KEY, RESPONSE_LENGTH_KEY, REWARD_EXTRA_INFO_KEY, SHUFFLED_KEY
from verl_videorft.rewards.temporal import temporal_bonus


@dataclass(frozen=True)
class Member:
    """One row of the batch as the group terms see it."""

    uid: str
    acc: float
    length: int  # response tokens
    aborted: bool = False  # replaced by the agent loop, or no reward: takes part in nothing
    padding: bool = False  # verl's synthetic padding row: ignored
    # T-GRPO (extra_fields[SHUFFLED_KEY], written by the agent loop): whether the prompt has a video,
    # how many shuffled-frame rollouts this member was to generate, and the accuracies of those that did
    video: bool = False
    shuffled_planned: int = 0
    shuffled_acc: tuple[float, ...] = ()


GroupTerm = Callable[[Sequence[Member], RewardConfig], list[float]]


def length_bonus(group: Sequence[Member], config: RewardConfig) -> list[float]:
    """Released trainer (Video-R1): ``+value`` for a right answer (acc > ``acc_threshold``) of
    ``min_tokens..max_tokens`` tokens, when more than one rollout of the group is right."""
    lb = config.length_bonus
    right = [m.acc > lb.acc_threshold for m in group]
    if not lb.enable or sum(right) <= 1:
        return [0.0] * len(group)
    return [lb.value if ok and lb.min_tokens <= m.length <= lb.max_tokens else 0.0
            for m, ok in zip(group, right)]


GROUP_TERMS: dict[str, GroupTerm] = {"length_bonus": length_bonus, "temporal_bonus": temporal_bonus}


@dataclass
class GroupTermResult:
    """Per-row values of each term (0 for padding and aborted rows), their sum, and the counts."""

    terms: dict[str, np.ndarray]
    total: np.ndarray
    counts: dict[str, int] = field(default_factory=dict)


def member_of(key: str, tag: Mapping[str, Any], extra_fields: Any) -> Member:
    """A batch row from verl's TransferQueue: key ``{uid}_{session}_{turn}``, tag, ``extra_fields``."""
    extra = extra_fields if isinstance(extra_fields, Mapping) else {}
    info = extra.get(REWARD_EXTRA_INFO_KEY) or {}
    aborted = extra.get(ERROR_KEY) is not None or ACC_KEY not in info
    shuffled = extra.get(SHUFFLED_KEY) if isinstance(extra.get(SHUFFLED_KEY), Mapping) else {}
    return Member(uid=key.split("_", 1)[0], acc=float(info.get(ACC_KEY, 0.0)),
                  length=int(info.get(RESPONSE_LENGTH_KEY, 0)), aborted=aborted,
                  padding=bool(tag.get("is_padding", False)), video=bool(shuffled.get("video", False)),
                  shuffled_planned=int(shuffled.get("planned", 0)),
                  shuffled_acc=tuple(float(a) for a in shuffled.get("acc") or ()))


def usable_groups(rows: Sequence[Member]) -> dict[str, list[int]]:
    """Row positions of each ``uid``'s members that take part in group terms (not padding, not aborted)."""
    groups: dict[str, list[int]] = {}
    for i, m in enumerate(rows):
        if not m.padding and not m.aborted:
            groups.setdefault(m.uid, []).append(i)
    return groups


def compute_group_terms(rows: Sequence[Member], config: RewardConfig, group_size: int,
                        terms: Mapping[str, GroupTerm] = GROUP_TERMS) -> GroupTermResult:
    """Every group term for every row of a batch; rows of one ``uid`` form a group."""
    groups = usable_groups(rows)
    values = {name: np.zeros(len(rows)) for name in terms}
    for idx in groups.values():
        members = [rows[i] for i in idx]
        for name, term in terms.items():
            values[name][idx] = term(members, config)
    uids = {m.uid for m in rows if not m.padding}
    sizes = {u: sum(1 for m in rows if m.uid == u and not m.padding) for u in uids}
    counts = {"groups": len(uids), "partial_groups": sum(1 for n in sizes.values() if n < group_size),
              "aborted_members": sum(1 for m in rows if m.aborted and not m.padding),
              "padding_rows": sum(1 for m in rows if m.padding)}
    total = np.sum(list(values.values()), axis=0) if values else np.zeros(len(rows))
    return GroupTermResult(values, total, counts)


def group_term_metrics(result: GroupTermResult, rows: Sequence[Member]) -> dict[str, float]:
    """``reward/<term>/{mean,max,min}`` over real rows and ``videorft/groups/<count>`` per step."""
    real = np.array([not m.padding for m in rows], dtype=bool)
    out: dict[str, float] = {f"videorft/groups/{k}": float(v) for k, v in result.counts.items()}
    if not real.any():
        return out
    for name, vals in result.terms.items():
        v = vals[real]
        out.update({f"reward/{name}/mean": float(v.mean()), f"reward/{name}/max": float(v.max()),
                    f"reward/{name}/min": float(v.min())})
    return out
