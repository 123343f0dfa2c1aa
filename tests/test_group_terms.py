"""Group reward terms in the ``videorft_sync`` trainer: the length bonus on complete groups, partial
and aborted groups, verl's padding rows, and the write-back into ``rm_scores`` before advantages."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from verl_videorft.config import LengthBonusConfig, RewardConfig
from verl_videorft.names import ERROR_KEY
from verl_videorft.rewards.group_terms import Member, compute_group_terms, group_term_metrics, member_of

CFG = RewardConfig()


def group(*acc_len: tuple[float, int], uid: str = "u") -> list[Member]:
    return [Member(uid, acc, length) for acc, length in acc_len]


@pytest.mark.parametrize("rows, bonus", [
    (group((1.0, 400), (1.0, 400)), [0.2, 0.2]),  # >1 right, both 320..512 tokens
    (group((1.0, 400), (1.0, 100)), [0.2, 0.0]),  # the short one gets nothing
    (group((1.0, 400), (0.0, 400)), [0.0, 0.0]),  # only one right: no bonus for anyone
    (group((1.0, 400), (0.1, 400)), [0.0, 0.0]),  # acc must exceed 0.1
    (group((1.0, 320), (1.0, 512)), [0.2, 0.2]),  # both boundaries are inside
    (group((1.0, 319), (1.0, 513)), [0.0, 0.0]),  # one token outside each boundary
    (group((0.5, 400), (0.2, 400), (0.0, 400)), [0.2, 0.2, 0.0]),  # partial credit counts as right
    (group((1.0, 400)) + group((1.0, 400), uid="v"), [0.0, 0.0]),  # two groups of one right each
])
def test_length_bonus(rows, bonus):
    assert compute_group_terms(rows, CFG, group_size=len(rows)).terms["length_bonus"].tolist() == bonus


def test_length_bonus_off():
    cfg = RewardConfig(length_bonus=LengthBonusConfig(enable=False))
    assert not compute_group_terms(group((1.0, 400), (1.0, 400)), cfg, 2).total.any()


def test_partial_group_gets_its_terms_and_is_counted():
    result = compute_group_terms(group((1.0, 400), (1.0, 400)), CFG, group_size=4)
    assert result.terms["length_bonus"].tolist() == [0.2, 0.2] and result.counts["partial_groups"] == 1


def test_aborted_member_neither_counts_nor_gets_a_bonus():
    rows = group((1.0, 400), (1.0, 400)) + [Member("u", 1.0, 400, aborted=True)]
    result = compute_group_terms(rows, CFG, group_size=3)
    assert result.terms["length_bonus"].tolist() == [0.2, 0.2, 0.0]
    assert result.counts["aborted_members"] == 1 and result.counts["partial_groups"] == 0


def test_aborted_member_does_not_make_a_second_right_answer():
    rows = group((1.0, 400)) + [Member("u", 1.0, 400, aborted=True)]
    assert not compute_group_terms(rows, CFG, group_size=2).total.any()


def test_padding_rows_are_ignored():
    rows = group((1.0, 400)) + [Member("u", 1.0, 400, padding=True)]  # a copy of the real row
    result = compute_group_terms(rows, CFG, group_size=1)
    assert result.terms["length_bonus"].tolist() == [0.0, 0.0] and result.counts["padding_rows"] == 1


def test_metrics_average_real_rows_only():
    rows = group((1.0, 400), (1.0, 400)) + [Member("pad", 0.0, 1, padding=True)]
    metrics = group_term_metrics(compute_group_terms(rows, CFG, group_size=2), rows)
    assert metrics["reward/length_bonus/mean"] == pytest.approx(0.2)
    assert metrics["videorft/groups/groups"] == 1.0


@pytest.mark.parametrize("key, tag, extra, expected", [
    ("u1_0_0", {}, {"reward_extra_info": {"acc": 1.0, "response_length": 400.0}},
     Member("u1", 1.0, 400)),
    ("u1_1_0", {}, {"reward_extra_info": {"acc": 1.0}, ERROR_KEY: "decode_error: x"},
     Member("u1", 1.0, 0, aborted=True)),
    ("u1_2_0", {}, {}, Member("u1", 0.0, 0, aborted=True)),
    ("padabc_0_0", {"is_padding": True}, {"reward_extra_info": {"acc": 1.0, "response_length": 400.0}},
     Member("padabc", 1.0, 400, padding=True)),
])
def test_member_of_a_transfer_queue_row(key, tag, extra, expected):
    assert member_of(key, tag, extra) == expected


def test_trainer_adds_group_terms_to_rm_scores_before_advantages(monkeypatch):
    """The trainer's hook on a fake TransferQueue: the bonus lands on each row's last token."""
    import transfer_queue as tq

    from verl_videorft.trainer import VideoRFTTrainerSync

    lengths, scores = [400, 400, 100, 1], [2.0, 2.0, 2.0, 0.0]
    rows = [torch.zeros(n) for n in lengths]
    for row, score in zip(rows, scores):
        row[-1] = score  # where verl's agent loop puts the reward
    store = {"rm_scores": torch.nested.as_nested_tensor(rows, layout=torch.jagged),
        "extra_fields": [{"reward_extra_info": {"acc": a, "response_length": float(n)}}
                         for a, n in zip([1.0, 1.0, 1.0, 1.0], lengths)]}
    put = {}
    monkeypatch.setattr(tq, "kv_batch_get", lambda **kw: store)
    monkeypatch.setattr(tq, "kv_batch_put", lambda **kw: put.update(kw["fields"].to_dict()))
    trainer = object.__new__(VideoRFTTrainerSync)
    trainer.config = OmegaConf.create({"actor_rollout_ref": {"rollout": {"n": 3}}, "reward": {}})
    batch = SimpleNamespace(keys=["u_0_0", "u_1_0", "u_2_0", "pad_0_0"], partition_id="train",
                            tags=[{}, {}, {}, {"is_padding": True}])
    metrics: dict = {}
    trainer._add_group_terms(batch, metrics)
    last = [row[-1].item() for row in put["rm_scores"].unbind()]
    assert last == pytest.approx([2.2, 2.2, 2.0, 0.0])
    assert np.allclose([row[:-1].sum().item() for row in put["rm_scores"].unbind()], 0.0)
    assert metrics["reward/length_bonus/mean"] == pytest.approx(0.4 / 3)
