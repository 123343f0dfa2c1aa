"""The SFT stage: CoT records → ``videorft data sft`` parquet → verl's ``sft_trainer`` → HF model folder.

    torchrun --standalone --nproc_per_node=N -m verl.trainer.sft_trainer data.train_files=sft.parquet \\
        data.custom_cls.path=pkg://verl_videorft.data.sft data.custom_cls.name=VideoRFTSFTDataset ...

verl's trainer, unchanged (the plugin's CPU platform is picked by verl's own detection); the last
step's checkpoint becomes a Hugging Face folder through :func:`verl_videorft.checkpoints.export_hf`.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from verl_videorft.demo.process import run_logged, trainer_env


@dataclass(frozen=True)
class SFTSettings:
    """What the demo's SFT run sets beyond verl's defaults (all CPU-sized)."""

    steps: int = 120
    batch_size: int = 8  # sequences per optimizer step (all ranks)
    lr: float = 1e-3  # a 1 M-parameter model from scratch; the paper's 7B SFT uses 1e-6
    nproc: int = 2  # FSDP2 ranks over gloo
    max_length: int = 1024
    timeout_s: int = 900


def sft_overrides(parquet: Path, model: Path, out_dir: Path, s: SFTSettings) -> list[str]:
    """Hydra overrides for ``verl.trainer.sft_trainer`` (its config: ``sft_trainer_engine.yaml``)."""
    return [
        f"data.train_files={parquet}", "data.custom_cls.path=pkg://verl_videorft.data.sft",
        "data.custom_cls.name=VideoRFTSFTDataset", f"data.train_batch_size={s.batch_size}",
        f"data.micro_batch_size_per_gpu={max(1, s.batch_size // s.nproc)}", f"data.max_length={s.max_length}",
        "data.use_dynamic_bsz=False", "data.num_workers=0", f"model.path={model}",
        "+model.override_config.attn_implementation=sdpa", "model.enable_gradient_checkpointing=False",
        "model.use_remove_padding=False", "engine.strategy=fsdp2", "engine.use_torch_compile=False",
        # fp32 throughout: FSDP's mixed precision computes in bf16 unless told (verl's default param_dtype)
        "engine.model_dtype=fp32", "engine.dtype=float32",
        "+engine.mixed_precision={param_dtype:fp32,reduce_dtype:fp32,buffer_dtype:fp32}",
        f"optim.lr={s.lr}", "optim.lr_warmup_steps_ratio=0.0",
        "trainer.device=cpu", f"trainer.total_training_steps={s.steps}",
        "trainer.total_epochs=1000", "trainer.logger=[console]", f"trainer.default_local_dir={out_dir}",
        f"trainer.save_freq={s.steps}", "trainer.test_freq=-1", "trainer.resume_mode=disable",
        "checkpoint.save_contents=[model,hf_model]",
    ]


def sft_command(overrides: list[str], nproc: int) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
            "-m", "verl.trainer.sft_trainer", *overrides]


def losses(log_text: str) -> list[float]:
    """``train/loss`` per step from the trainer's console log.

    >>> losses("step:1 - train/loss:2.5 - x\\nstep:2 - train/loss:1.25, y")
    [2.5, 1.25]
    """
    return [float(m) for m in re.findall(r"train/loss:([0-9.eE+-]+?)(?:[,\s]|$)", log_text)]


def write_sft_parquet(records: Path, out: Path, *, media_root: Path | None, profile: Any,
                      prompt_style: str = "videorft") -> Path:
    """``videorft data sft`` on the CoT records: the prompts exactly as that command builds them."""
    from verl_videorft.data.sft import convert_sft

    return convert_sft([str(records)], out, media_root=str(media_root) if media_root else None, profile=profile,
                       prompt_style=prompt_style)


def run_sft(parquet: Path, model: Path, workdir: Path, settings: SFTSettings) -> dict[str, Any]:
    """Train, export the last step to ``workdir/sft_model``; ``{"model", "losses", "returncode"}``."""
    from verl_videorft.checkpoints import export_hf

    ckpt = workdir / "checkpoints_sft"
    log = workdir / "sft.log"
    cmd = sft_command(sft_overrides(parquet, model, ckpt, settings), settings.nproc)
    code = run_logged(cmd, log, env=trainer_env(workdir, workdir / "sft_metrics.jsonl"), cwd=workdir,
                      timeout_s=settings.timeout_s, echo=None)
    result: dict[str, Any] = {"returncode": code, "losses": losses(log.read_text()), "model": None}
    if code == 0:
        result["model"] = export_hf(ckpt, workdir / "models" / "sft")
    return result
