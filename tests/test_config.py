"""Typed ``data.videorft`` / ``reward.videorft``: misspelt keys fail naming the key on the paths verl
uses (the dataset class, the reward manager), and the defaults and the recipe give the paper's values."""

from __future__ import annotations

import json

import pytest
from omegaconf import OmegaConf

from verl_videorft.config import ConfigError, DataConfig, RewardConfig, data_config, reward_config


@pytest.fixture(scope="module")
def tokenizer():
    from verl_videorft.testing import build_tiny_tokenizer

    return build_tiny_tokenizer()


@pytest.fixture()
def data_file(tmp_path):
    (tmp_path / "v.mp4").write_bytes(b"x")
    rec = {"problem": "Q?", "problem_type": "numerical", "solution": "<answer>1</answer>", "path": "v.mp4"}
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps(rec) + "\n")
    return str(path)


@pytest.mark.parametrize("block, key", [
    ({"wieghts": {}}, "reward.videorft.wieghts"),
    ({"gate": {"treshold": 0.0}}, "reward.videorft.gate.treshold"),
    ({"length_bonus": {"min_token": 300}}, "reward.videorft.length_bonus.min_token"),
    ({"accuracy": {"lenient": True}}, "reward.videorft.accuracy.lenient"),
    ({"semantic": {"encodr": "x"}}, "reward.videorft.semantic.encodr"),
    ({"semantic": {"ray_actor": {"num_gpu": 1}}}, "reward.videorft.semantic.ray_actor.num_gpu"),
    ({"weights": {"accuracy": "one"}}, "reward.videorft.weights.accuracy"),
    ({"gate": False}, "reward.videorft.gate"),
])
def test_reward_manager_names_a_bad_key(tokenizer, block, key):
    from verl_videorft.rewards.manager import VideoRFTRewardManager

    cfg = OmegaConf.create({"actor_rollout_ref": {"rollout": {"n": 2, "val_kwargs": {"n": 1}}},
                            "reward": {"videorft": block}})
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        VideoRFTRewardManager(cfg, tokenizer)


@pytest.mark.parametrize("block, key", [
    ({"frame_profil": "train"}, "data.videorft.frame_profil"),
    ({"profiles": {"mine": {"nframe": 8}}}, "data.videorft.profiles.mine.nframe"),
    ({"check_media": "maybe"}, "data.videorft.check_media"),
    ({"on_decode_error": "skip"}, "data.videorft: on_decode_error"),
])
def test_dataset_names_a_bad_key(data_file, block, key):
    from verl_videorft.data import VideoRFTDataset

    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        VideoRFTDataset(data_files=data_file, tokenizer=None, processor=None,
                        config=OmegaConf.create({"videorft": block}))


@pytest.mark.parametrize("load, default", [
    (reward_config, RewardConfig()),
    (data_config, DataConfig()),
])
def test_an_absent_block_is_all_defaults(load, default):
    assert load(OmegaConf.create({})) == default


@pytest.mark.parametrize("path, paper", [
    ("weights.accuracy", 1.0),  # "unweighted": R_acc + R_fmt + gate·R_sem
    ("weights.format", 1.0),
    ("weights.semantic", 1.0),
    ("gate.enable", True),  # "R_sem is set to 0 wherever R_acc <= 0"
    ("gate.threshold", 0.0),
    ("length_bonus.value", 0.2),  # released trainer: "+0.2"
    ("length_bonus.min_tokens", 320),  # "320–512 tokens"
    ("length_bonus.max_tokens", 512),
    ("length_bonus.acc_threshold", 0.1),  # "more than one rollout has accuracy > 0.1"
    ("semantic.encoder", "google/siglip-so400m-patch14-384"),  # "SigLIP so400m-patch14-384"
    ("semantic.weight", 2.0),  # "w = 2"
    ("semantic.aggregate", "mean"),  # "cos(t, mean_f v_f)"
    ("accuracy.lenient_choice", False),  # the reference's scoring, quirks included
])
def test_defaults_are_the_papers(path, paper):
    assert OmegaConf.select(OmegaConf.structured(RewardConfig()), path) == paper


def test_semantic_encoder_defaults_to_cpu_with_a_reserved_core():
    actor = RewardConfig().semantic.ray_actor
    assert actor.num_gpus == 0 and actor.num_cpus >= 1


@pytest.fixture(scope="module")
def composed():
    """The recipe as verl's Hydra composes it (``main_ppo +recipe=videorft``), in process."""
    from hydra import compose, initialize_config_module

    with initialize_config_module("verl.trainer.config", version_base=None):
        return compose("ppo_trainer", overrides=["+recipe=videorft"])


@pytest.mark.slow
def test_recipe_reward_block_loads_to_the_papers_values(composed):
    assert reward_config(composed) == RewardConfig(semantic=reward_config(composed).semantic)
    semantic = reward_config(composed).semantic
    assert semantic.frame_profile == {"nframes": 16, "min_pixels": 128 * 28 * 28,
                                      "max_pixels": 128 * 28 * 28, "size_multiple": 28}


@pytest.mark.slow
def test_recipe_data_block_loads(composed):
    cfg = data_config(composed.data)
    assert cfg.frame_profile == "train" and cfg.on_decode_error == "raise"
    assert cfg.profiles["train"].given() == {"nframes": 16, "min_pixels": 100352, "max_pixels": 100352,
                                             "size_multiple": 28}
