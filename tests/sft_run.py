"""verl's own SFT trainer, unchanged, on CPU with the plugin's SFT dataset class: 2 ranks, fsdp2, fp32,
two steps, no checkpoint. The SFT tests share this command and read the losses it logs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def sft_trainer_command(train_file: Path, model: Path, workdir: Path, *overrides: str) -> list[str]:
    """``torchrun ... -m verl.trainer.sft_trainer`` for two steps on ``train_file``; ``overrides`` are
    added Hydra overrides (e.g. ``+data.videorft.frame_profile=...``)."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
            "-m", "verl.trainer.sft_trainer",
            f"data.train_files={train_file}", "data.custom_cls.path=pkg://verl_videorft.data.sft",
            "data.custom_cls.name=VideoRFTSFTDataset", "data.train_batch_size=2",
            "data.micro_batch_size_per_gpu=1", "data.max_length=2048", "data.use_dynamic_bsz=False",
            "data.num_workers=0", *overrides,
            f"model.path={model}", "+model.override_config.attn_implementation=sdpa",
            "model.enable_gradient_checkpointing=False", "model.use_remove_padding=False",
            "engine.strategy=fsdp2", "engine.use_torch_compile=False", "engine.model_dtype=fp32",
            "trainer.device=cpu", "trainer.total_training_steps=2", "trainer.logger=[console]",
            f"trainer.default_local_dir={workdir / 'ckpt'}", "trainer.save_freq=-1", "trainer.test_freq=-1",
            "checkpoint.save_contents=[]"]


def run_sft(train_file: Path, model: Path, workdir: Path, *overrides: str, timeout: int = 220,
            env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run :func:`sft_trainer_command` in ``workdir``: ``(exit code, stdout + stderr)``."""
    env = {**os.environ, "FORCE_QWENVL_VIDEO_READER": "decord", "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled",
           "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1", **(env or {})}
    proc = subprocess.run(sft_trainer_command(train_file, model, workdir, *overrides), env=env,
                          capture_output=True, text=True, timeout=timeout, cwd=workdir)
    return proc.returncode, proc.stdout + proc.stderr


def train_losses(log: str) -> list[float]:
    """The ``train/loss`` values verl's console logger printed, in order."""
    return [float(x.split("train/loss:")[1].split()[0].rstrip(",")) for x in log.splitlines() if "train/loss:" in x]
