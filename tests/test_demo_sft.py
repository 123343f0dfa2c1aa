"""SFT under verl's own ``sft_trainer`` config sees the frame profile's frames (what RL and eval see).

verl 0.9.1's ``sft_trainer_engine.yaml`` sets ``enable_thinking_default: none``: YAML's string "none",
truthy, so verl passed ``enable_thinking=True`` to every turn and transformers then dropped the
dataset's ``processor_kwargs`` (``do_resize=False``): 56 x 56 frames went in at 336 x 336.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("verl")


@pytest.fixture(scope="module")
def sft_parquet(tmp_path_factory):
    from verl_videorft.data.demo_tasks import make_task_set
    from verl_videorft.demo.settings import DEMO_PROFILE
    from verl_videorft.demo.sft import write_sft_parquet

    out = tmp_path_factory.mktemp("sft_frames")
    paths = make_task_set(out, n_train=3, n_test=1, size=56)
    return write_sft_parquet(paths["train"], out / "sft.parquet", media_root=None, profile=DEMO_PROFILE)


def _trainer_data_config(parquet: Path, model: Path):
    from hydra import compose, initialize_config_module

    from verl_videorft.demo.sft import SFTSettings, sft_overrides

    with initialize_config_module("verl.trainer.config", version_base=None):
        overrides = sft_overrides(parquet, model, parquet.parent, SFTSettings())
        return compose("sft_trainer_engine", overrides=overrides).data


@pytest.mark.parametrize("enable_thinking_default", ["none", None])
def test_sft_sample_has_the_profiles_video_tokens(sft_parquet, tiny_qwen, enable_thinking_default):
    from omegaconf import OmegaConf
    from transformers import AutoProcessor
    from verl.utils import hf_tokenizer

    from verl_videorft.data.sft import VideoRFTSFTDataset

    config = _trainer_data_config(sft_parquet, tiny_qwen)
    OmegaConf.update(config, "enable_thinking_default", enable_thinking_default)
    ds = VideoRFTSFTDataset(parquet_files=str(sft_parquet), tokenizer=hf_tokenizer(str(tiny_qwen)), config=config,
                            processor=AutoProcessor.from_pretrained(tiny_qwen))
    # 4 frames of 56 x 56 with patch 14: 2 temporal patches x 4 x 4 patches
    assert tuple(ds[0]["multi_modal_inputs"]["video_grid_thw"][0].tolist()) == (2, 4, 4)
