"""Tiny Qwen3-VL end to end on CPU: 2 GRPO steps (hf rollout, ``+recipe=videorft_qwen3vl_cpu``),
2 SFT steps (verl's ``sft_trainer``) and an evaluation (``videorft eval --backend hf``).

Frames are in multiples of 32 (patch 16 × merge 2); the rollout sends one video span per video and
trains on vLLM 0.24's expansion of it (tests/test_time_axis.py proves the positions agree).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("verl")

E2E_TIMEOUT_S = 420
# 4 frames of 128 × 128 as the recipe's cpu profile: 2 × 4 × 4 = 32 video tokens
PROFILE32 = dict(nframes=4, min_pixels=128 * 128, max_pixels=128 * 128, size_multiple=32)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, tiny_qwen3):
    from verl_videorft import demo

    workdir = tmp_path_factory.mktemp("qwen3_e2e")
    return workdir, {**demo.prepare_inputs(workdir), "model": tiny_qwen3}


@pytest.mark.slow
@pytest.mark.timeout(E2E_TIMEOUT_S + 120)
def test_two_grpo_steps_with_the_qwen3vl_recipe(inputs):
    from verl_videorft import demo

    workdir, paths = inputs
    overrides = ["+recipe=videorft_qwen3vl_cpu" if o == "+recipe=videorft_cpu" else o
                 for o in demo.trainer_overrides(paths, workdir, steps=2)]
    assert "+recipe=videorft_qwen3vl_cpu" in overrides
    result = demo.run_trainer(overrides + ["trainer.save_freq=-1"], workdir, timeout_s=E2E_TIMEOUT_S, echo=False)
    log = (workdir / "train.log").read_text()
    assert result.returncode == 0, f"trainer failed (exit {result.returncode}); log tail:\n{log[-6000:]}"
    rows = demo.read_metrics(workdir)
    assert [r["step"] for r in rows][:2] == [1, 2], rows
    for row in rows[:2]:
        assert row["timing_s/update_actor"] > 0 and "reward/acc/mean" in row
        assert row["videorft/bad_samples"] == 0  # every video reached the model: spans expanded right


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.xfail(strict=True, reason=(
    "verl 0.9.1's MultiTurnSFTDataset.__getitem__ computes positions with verl.models.transformers.qwen2_vl."
    "get_rope_index for every Qwen2VLImageProcessor-based processor; it counts one video per <|vision_start|>, "
    "so a Qwen3-VL video (one <|vision_start|> per frame pair) indexes past video_grid_thw: IndexError. "
    "Needs data/sft.py to give verl per-frame grids for Qwen3-VL."))
def test_two_sft_steps_on_qwen3vl(inputs, tmp_path):
    from verl_videorft.cli import main as cli

    workdir, paths = inputs
    parquet = tmp_path / "sft.parquet"
    assert cli(["data", "sft", str(paths["train"]), "-o", str(parquet), "--quiet"]) == 0
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled", "TOKENIZERS_PARALLELISM": "false",
           "OMP_NUM_THREADS": "1", "VERL_PLATFORM": "cpu"}
    profile = json.dumps(PROFILE32).replace('"', "").replace(" ", "")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "verl.trainer.sft_trainer",
           f"data.train_files={parquet}", "data.custom_cls.path=pkg://verl_videorft.data.sft",
           "data.custom_cls.name=VideoRFTSFTDataset", "data.train_batch_size=2",
           "data.micro_batch_size_per_gpu=1", "data.max_length=2048", "data.use_dynamic_bsz=False",
           "data.num_workers=0", f"+data.videorft.frame_profile={profile}",
           f"model.path={paths['model']}", "+model.override_config.attn_implementation=sdpa",
           "model.enable_gradient_checkpointing=False", "model.use_remove_padding=False",
           "engine.strategy=fsdp2", "engine.use_torch_compile=False", "engine.model_dtype=fp32",
           "trainer.device=cpu", "trainer.total_training_steps=2", "trainer.logger=[console]",
           f"trainer.default_local_dir={tmp_path / 'ckpt'}", "trainer.save_freq=-1", "trainer.test_freq=-1",
           "checkpoint.save_contents=[]"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=280, cwd=tmp_path)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    losses = [x for x in log.splitlines() if "train/loss:" in x]
    assert len(losses) >= 2, log[-3000:]


@pytest.mark.slow
def test_eval_of_qwen3vl_with_the_hf_backend(inputs, tmp_path, clip):
    from verl_videorft.cli import main as cli
    from verl_videorft.video import register_profile

    _, paths = inputs
    data = tmp_path / "bench"
    (data / "media").mkdir(parents=True)
    (data / "media" / "clip.mp4").write_bytes(clip.read_bytes())
    rec = {"problem_id": 1, "problem": "What moves?", "problem_type": "multiple choice", "data_type": "video",
           "options": ["A. a square", "B. a circle"], "solution": "<answer>A</answer>", "path": "./media/clip.mp4"}
    (data / "eval_mmvu.json").write_text(json.dumps([rec, {**rec, "problem_id": 2}]))
    register_profile("qwen3_tiny_eval", **PROFILE32)
    out = tmp_path / "run"
    assert cli(["eval", "--model", str(paths["model"]), "--data-dir", str(data), "--media-root", str(data),
                "--backend", "hf", "--profile", "qwen3_tiny_eval", "--temperature", "0", "--max-new-tokens", "4",
                "--out", str(out), "--no-progress"]) == 0
    results = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert len(results) == 2 and not any(r.get("error") for r in results), results


def test_dataset_refuses_a_28_profile_for_qwen3vl_at_start_up(tmp_path, tiny_qwen3):
    from omegaconf import OmegaConf
    from transformers import AutoProcessor, AutoTokenizer

    from verl_videorft.data.dataset import VideoRFTDataset

    (tmp_path / "clip.mp4").write_bytes(b"\x00" * 64)
    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps({"problem": "Q?", "problem_type": "free-form", "solution": "<answer>a</answer>",
                                "path": "clip.mp4", "data_type": "video"}) + "\n")
    config = OmegaConf.create({"videorft": {"frame_profile": "train"}})  # the paper's: multiples of 28
    with pytest.raises(ValueError, match=r"frame profile 'train'.*patch 16 × merge 2 = 32"):
        VideoRFTDataset(data_files=str(data), tokenizer=AutoTokenizer.from_pretrained(tiny_qwen3), config=config,
                        processor=AutoProcessor.from_pretrained(tiny_qwen3))
