"""The ``videorft`` reward manager and ``compute_score`` inside verl 0.9.1's own reward loop."""

from __future__ import annotations

import asyncio

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


def _weighted_run(tokenizer) -> dict:
    cfg = make_config({"weights": {"accuracy": 2.0, "format": 0.5, "semantic": 0.0}})
    return run(VideoRFTRewardManager(cfg, tokenizer).run_single(sample(tokenizer, completion("B"))))


def test_extra_info_holds_the_score_and_each_term(tokenizer):
    info = _weighted_run(tokenizer)["reward_extra_info"]
    assert set(info) == {"score", *EXTRA_KEYS}
    assert (info["acc"], info["format"], info["sem"]) == (1.0, 1.0, 0.0)


def test_score_is_the_weighted_sum(tokenizer):
    out = _weighted_run(tokenizer)
    assert out["reward_score"] == pytest.approx(2.5) == out["reward_extra_info"]["score"]


PROF = {"nframes": 2, "min_pixels": 3136, "max_pixels": 3136}


def test_semantic_is_gated_by_accuracy(tokenizer, tiny_siglip, clip):
    cfg = make_config({"semantic": {"enable": True, "encoder": str(tiny_siglip), "weight": 50.0}})
    manager = VideoRFTRewardManager(cfg, tokenizer)

    async def go():
        items = [sample(tokenizer, completion(a, 3), media_path=str(clip), profile=PROF) for a in "BC"]
        return await asyncio.gather(*(manager.run_single(x) for x in items))

    right, wrong = [o["reward_extra_info"] for o in run(go())]
    assert right["sem"] == right["sem_raw"] > 0.0 and right["sem_media_error"] == 0.0
    assert wrong["sem"] == 0.0 and wrong["sem_raw"] == pytest.approx(right["sem_raw"], abs=1e-6)
    assert right["score"] == pytest.approx(right["acc"] + right["format"] + right["sem"])


def test_ungated_semantic_counts_for_a_wrong_answer(tokenizer, tiny_siglip, clip):
    cfg = make_config({"semantic": {"enable": True, "encoder": str(tiny_siglip)}, "gate": {"enable": False}})
    manager = VideoRFTRewardManager(cfg, tokenizer)
    info = run(manager.run_single(sample(tokenizer, completion("C", 3), media_path=str(clip),
                                         profile=PROF)))["reward_extra_info"]
    assert info["acc"] == 0.0 and info["sem"] == info["sem_raw"] > 0.0


def test_a_groups_rollouts_encode_their_video_once(tokenizer, tiny_siglip, clip, tmp_path):
    import shutil

    from verl_videorft.rewards.semantic import get_scorer

    fresh = shutil.copy(clip, tmp_path / "fresh.mp4")  # a path no earlier test has encoded
    cfg = make_config({"semantic": {"enable": True, "encoder": str(tiny_siglip), "ray_actor": {"enable": False}}})
    manager = VideoRFTRewardManager(cfg, tokenizer)
    scorer = get_scorer(manager.sem_config)
    before = scorer.counters["embedding_cache_misses"]

    async def go():
        items = [sample(tokenizer, completion(a, 3), uid="g", session=i, media_path=str(fresh), profile=PROF)
                 for i, a in enumerate("BBCB")]
        return await asyncio.gather(*(manager.run_single(x) for x in items))

    run(go())
    assert scorer.counters["embedding_cache_misses"] - before == 1


def test_missing_video_gives_zero_semantic_and_a_metric(tokenizer, tiny_siglip, tmp_path):
    cfg = make_config({"semantic": {"enable": True, "encoder": str(tiny_siglip)}})
    manager = VideoRFTRewardManager(cfg, tokenizer)
    gone = str(tmp_path / "gone.mp4")
    out = run(manager.run_single(sample(tokenizer, completion("B", 3), media_path=gone)))
    info = out["reward_extra_info"]
    assert info["sem"] == 0.0 and info["sem_media_error"] == 1.0 and out["reward_score"] == 2.0


@pytest.mark.parametrize("path", ["pkg://verl_videorft.rewards", "REPO/reward_plugins/videorft_rule.py"])
@pytest.mark.parametrize("text, score", [
    (completion("B"), 2.0),              # right and well formed: accuracy + format
    ("<answer>b</answer>", 0.0),         # wrong case, no think block
])
def test_compute_score_in_verls_naive_manager(tokenizer, repo_root, path, text, score):
    cfg = make_config(custom_path=path.replace("REPO", str(repo_root)))
    manager = NaiveRewardManager(cfg, tokenizer, get_custom_reward_fn(cfg))
    assert run(manager.run_single(sample(tokenizer, text)))["reward_score"] == score


def test_compute_score_logs_each_term_in_verls_naive_manager(tokenizer):
    cfg = make_config(custom_path="pkg://verl_videorft.rewards")
    manager = NaiveRewardManager(cfg, tokenizer, get_custom_reward_fn(cfg))
    info = run(manager.run_single(sample(tokenizer, completion("B"))))["reward_extra_info"]
    assert (info["acc"], info["format"]) == (1.0, 1.0)


@pytest.mark.parametrize("plugin, expected", [("accuracy", 1.0), ("format", 1.0)])
def test_each_reward_plugin_alone(tokenizer, repo_root, plugin, expected):
    cfg = make_config(custom_path=str(repo_root / "reward_plugins" / f"{plugin}.py"))
    manager = NaiveRewardManager(cfg, tokenizer, get_custom_reward_fn(cfg))
    out = run(manager.run_single(sample(tokenizer, completion("B"))))
    assert out["reward_score"] == expected


def _semantic_plugin_manager(tokenizer, repo_root, tiny_siglip):
    cfg = make_config(custom_path=str(repo_root / "reward_plugins" / "semantic.py"))
    cfg.reward.custom_reward_function.reward_kwargs = {"encoder": str(tiny_siglip)}
    return NaiveRewardManager(cfg, tokenizer, get_custom_reward_fn(cfg))


def test_semantic_plugin_alone_scores_a_wrong_answer_in_range(tokenizer, repo_root, tiny_siglip, clip):
    manager = _semantic_plugin_manager(tokenizer, repo_root, tiny_siglip)
    out = run(manager.run_single(sample(tokenizer, completion("C", 3), media_path=str(clip), profile=PROF)))
    assert 0.0 <= out["reward_score"] <= 1.0  # ungated: a wrong answer still gets it


def test_semantic_plugin_alone_without_media_scores_zero(tokenizer, repo_root, tiny_siglip):
    manager = _semantic_plugin_manager(tokenizer, repo_root, tiny_siglip)
    assert run(manager.run_single(sample(tokenizer, completion("B", 3), media_path=None)))["reward_score"] == 0.0
