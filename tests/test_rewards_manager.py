"""The ``videorft`` reward manager and ``compute_score`` inside verl 0.9.1's own reward loop."""

from __future__ import annotations

import asyncio
import uuid

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

pytest.importorskip("verl")
from verl import DataProto
from verl.experimental.reward_loop.reward_manager import get_reward_manager_cls, register
from verl.experimental.reward_loop.reward_manager.naive import NaiveRewardManager
from verl.trainer.ppo.reward import get_custom_reward_fn, load_reward_manager

from verl_videorft.rewards.manager import EXTRA_KEYS, VideoRFTRewardManager


@pytest.fixture(scope="module")
def tokenizer():
    from verl_videorft.testing import build_tiny_tokenizer

    return build_tiny_tokenizer()


def ensure_registered():
    try:
        return get_reward_manager_cls("videorft")
    except ValueError:
        return register("videorft")(VideoRFTRewardManager)


def make_config(videorft: dict | None = None, *, n: int = 4, custom_path: str | None = None):
    return OmegaConf.create({
        "actor_rollout_ref": {"rollout": {"n": n, "val_kwargs": {"n": 1}}},
        "reward": {
            "num_workers": 1,
            "custom_reward_function": {"path": custom_path, "name": "compute_score", "reward_kwargs": {}},
            "reward_manager": {"source": "register", "name": "videorft",
                               "module": {"path": None, "name": "custom_reward_manager"}},
            "reward_model": {"enable": False},
            "videorft": videorft or {},
        },
    })


def sample(tokenizer, completion: str, *, solution="<answer>B</answer>", problem_type="multiple choice",
           uid=None, session=0, media_path=None, profile=None, pad_to: int = 0) -> DataProto:
    """One trajectory as verl's agent loop hands it to a reward worker (right-padded response)."""
    ids = tokenizer(completion, add_special_tokens=False)["input_ids"]
    resp = torch.tensor(ids + [tokenizer.pad_token_id] * max(0, pad_to - len(ids)))[None]
    prompt = torch.tensor([[1, 2, 3]])
    mask = torch.cat([torch.ones(1, 3), (torch.arange(resp.shape[1]) < len(ids)).float()[None]], 1).long()
    extra = {"problem_type": problem_type, "data_type": "video", "media_path": media_path,
             "frame_profile": profile}
    non_tensor = {"data_source": np.array(["test"], dtype=object),
                  "reward_model": np.array([{"style": "rule", "ground_truth": solution}], dtype=object),
                  "extra_info": np.array([extra], dtype=object)}
    if uid is not None:
        non_tensor["uid"] = np.array([uid], dtype=object)
        non_tensor["session_id"] = np.array([session], dtype=object)
    return DataProto.from_dict(tensors={"prompts": prompt, "responses": resp, "attention_mask": mask},
                               non_tensors=non_tensor)


def run(coro):
    """On verl's own event loop, as the reward worker runs it (managers bind it at init)."""
    from verl.utils.ray_utils import get_event_loop

    return get_event_loop().run_until_complete(coro)


def completion(answer: str, filler_words: int = 0) -> str:
    return f"<think>Question. {'wait ' * filler_words}ok</think><answer>{answer}</answer>"


def test_registered_under_videorft_and_loaded_by_verl(tokenizer):
    ensure_registered()
    manager = load_reward_manager(make_config({"semantic": {"enable": False}}), tokenizer)
    assert isinstance(manager, VideoRFTRewardManager)


def test_weights_gate_and_extra_info(tokenizer):
    cfg = make_config({"weights": {"accuracy": 2.0, "format": 0.5, "semantic": 0.0},
                       "group": {"enable": False}})
    manager = VideoRFTRewardManager(cfg, tokenizer)
    out = run(manager.run_single(sample(tokenizer, completion("B"))))
    info = out["reward_extra_info"]
    assert set(info) == {"score", *EXTRA_KEYS}
    assert info["acc"] == 1.0 and info["format"] == 1.0 and info["sem"] == 0.0
    assert out["reward_score"] == pytest.approx(2.5) == info["score"]


def test_group_length_bonus_needs_two_accurate_rollouts(tokenizer):
    """Released trainer: +0.2 for accurate rollouts of 320-512 tokens when >1 rollout is accurate."""
    lb = {"enable": True, "value": 0.2, "min_tokens": 20, "max_tokens": 40, "acc_threshold": 0.1}
    manager = VideoRFTRewardManager(make_config({"length_bonus": lb, "semantic": {"enable": False}}),
                                    tokenizer)
    def n_tokens(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])
    mid = completion("B", 16)
    assert 20 <= n_tokens(mid) <= 40 and n_tokens(completion("B")) < 20

    async def group(answers_and_fillers, uid):
        items = [sample(tokenizer, completion(a, f), uid=uid, session=i)
                 for i, (a, f) in enumerate(answers_and_fillers)]
        return await asyncio.gather(*(manager.run_single(x) for x in items))

    outs = run(group([("B", 16), ("B", 0), ("C", 16), ("C", 0)], "u1"))
    assert [o["reward_extra_info"]["length_bonus"] for o in outs] == [0.2, 0.0, 0.0, 0.0]
    assert all(o["reward_extra_info"]["group_size"] == 4.0 for o in outs)
    outs = run(group([("B", 16), ("C", 0), ("C", 16), ("C", 0)], "u2"))  # only one accurate
    assert [o["reward_extra_info"]["length_bonus"] for o in outs] == [0.0] * 4


def test_incomplete_group_closes_after_timeout(tokenizer):
    manager = VideoRFTRewardManager(make_config({"group": {"timeout_s": 0.2},
                                                 "semantic": {"enable": False}}, n=8), tokenizer)
    out = run(manager.run_single(sample(tokenizer, completion("B"), uid=str(uuid.uuid4()))))
    assert out["reward_extra_info"]["group_size"] == 1.0 and out["reward_score"] == 2.0


def test_semantic_is_gated_by_accuracy_and_batched_per_group(tokenizer, tiny_siglip, clip):
    prof = {"nframes": 2, "min_pixels": 3136, "max_pixels": 3136}
    cfg = make_config({"semantic": {"enable": True, "encoder": str(tiny_siglip), "weight": 50.0},
                       "length_bonus": {"enable": False}}, n=3)
    manager = VideoRFTRewardManager(cfg, tokenizer)
    answers = ["B", "C", "B"]

    async def go():
        items = [sample(tokenizer, completion(a, 3), uid="sem-group", session=i, media_path=str(clip),
                        profile=prof) for i, a in enumerate(answers)]
        return await asyncio.gather(*(manager.run_single(x) for x in items))

    outs = [o["reward_extra_info"] for o in run(go())]
    for answer, info in zip(answers, outs):
        assert 0.0 <= info["sem_raw"] <= 1.0 and info["sem_media_error"] == 0.0
        assert info["sem"] == (info["sem_raw"] if answer == "B" else 0.0)
        assert info["score"] == pytest.approx(info["acc"] + info["format"] + info["sem"])
    # the same think text scores the same: one batch, one frame-embedding computation
    assert outs[0]["sem_raw"] == pytest.approx(outs[1]["sem_raw"], abs=1e-6)
    ungated = VideoRFTRewardManager(make_config({"semantic": {"enable": True, "encoder": str(tiny_siglip)},
                                                 "gate": {"enable": False}, "group": {"enable": False}}),
                                    tokenizer)
    info = run(ungated.run_single(sample(tokenizer, completion("C", 3), media_path=str(clip),
                                         profile=prof)))["reward_extra_info"]
    assert info["acc"] == 0.0 and info["sem"] == info["sem_raw"]


def test_missing_video_gives_zero_semantic_and_a_metric(tokenizer, tiny_siglip, tmp_path):
    cfg = make_config({"semantic": {"enable": True, "encoder": str(tiny_siglip)}, "group": {"enable": False}})
    manager = VideoRFTRewardManager(cfg, tokenizer)
    gone = str(tmp_path / "gone.mp4")
    out = run(manager.run_single(sample(tokenizer, completion("B", 3), media_path=gone)))
    info = out["reward_extra_info"]
    assert info["sem"] == 0.0 and info["sem_media_error"] == 1.0 and out["reward_score"] == 2.0


@pytest.mark.parametrize("path", ["pkg://verl_videorft.rewards", "REPO/reward_plugins/videorft_rule.py"])
def test_compute_score_in_verls_naive_manager(tokenizer, repo_root, path):
    cfg = make_config(custom_path=path.replace("REPO", str(repo_root)))
    manager = NaiveRewardManager(cfg, tokenizer, get_custom_reward_fn(cfg))
    out = run(manager.run_single(sample(tokenizer, completion("B"))))
    assert out["reward_score"] == 2.0
    assert out["reward_extra_info"]["acc"] == 1.0 and out["reward_extra_info"]["format"] == 1.0
    out = run(manager.run_single(sample(tokenizer, "<answer>b</answer>")))
    assert out["reward_score"] == 0.0


@pytest.mark.parametrize("plugin, expected", [("accuracy", 1.0), ("format", 1.0)])
def test_each_reward_plugin_alone(tokenizer, repo_root, plugin, expected):
    cfg = make_config(custom_path=str(repo_root / "reward_plugins" / f"{plugin}.py"))
    manager = NaiveRewardManager(cfg, tokenizer, get_custom_reward_fn(cfg))
    out = run(manager.run_single(sample(tokenizer, completion("B"))))
    assert out["reward_score"] == expected


def test_semantic_plugin_alone_in_naive_manager(tokenizer, repo_root, tiny_siglip, clip):
    cfg = make_config(custom_path=str(repo_root / "reward_plugins" / "semantic.py"))
    cfg.reward.custom_reward_function.reward_kwargs = {"encoder": str(tiny_siglip)}
    manager = NaiveRewardManager(cfg, tokenizer, get_custom_reward_fn(cfg))
    prof = {"nframes": 2, "min_pixels": 3136, "max_pixels": 3136}
    with_video = run(manager.run_single(sample(tokenizer, completion("C", 3), media_path=str(clip),
                                               profile=prof)))
    assert 0.0 <= with_video["reward_score"] <= 1.0  # ungated: a wrong answer still gets it
    missing = run(manager.run_single(sample(tokenizer, completion("B", 3), media_path=None)))
    assert missing["reward_score"] == 0.0


def test_group_board_frees_groups_and_counts_stragglers():
    from verl_videorft.rewards.group import GroupBoard

    board = GroupBoard()

    async def member(uid, i, expected, timeout):
        members, leader = await board.join(uid, str(i), {"i": i}, expected, timeout)
        if not leader:
            return await board.result(uid, str(i), timeout)
        await board.publish(uid, {k: len(members) for k in members})
        return len(members)

    async def go():
        full = await asyncio.gather(*(member("g", i, 3, 5) for i in range(3)))
        short = await asyncio.gather(*(member("h", i, 3, 0.1) for i in range(2)))
        late = await member("h", 2, 3, 0.1)
        return full, short, late

    full, short, late = run(go())
    assert full == [3, 3, 3] and short == [2, 2] and late == 1
    assert board.stats() == {"groups": 2, "incomplete": 1, "late": 1, "open": 0}


def test_straggler_does_not_overwrite_its_closed_groups_results():
    from verl_videorft.rewards.group import GroupBoard

    board = GroupBoard()

    async def go():
        # Two members time out waiting for a third; the leader publishes; a straggler arrives
        # and leads alone before the non-leader has read its result.
        joined = await asyncio.gather(*(board.join("u", k, {}, 3, 0.05) for k in ("a", "b")))
        leader = next(k for k, (_, is_leader) in zip("ab", joined) if is_leader)
        other = "b" if leader == "a" else "a"
        await board.publish("u", {"a": "group-a", "b": "group-b"})
        _, straggler_leads = await board.join("u", "c", {}, 3, 0.05)
        await board.publish("u", {"c": "alone"})
        return straggler_leads, other, await board.result("u", other, 0.05)

    straggler_leads, other, value = run(go())
    assert straggler_leads and value == f"group-{other}"
