"""The GRPO stage: verl's own ``main_ppo`` with ``+recipe=videorft_cpu``, run as a subprocess.

    python -m verl.trainer.main_ppo +recipe=videorft_cpu data.train_files=... actor_rollout_ref.model.path=...

(``videorft_cpu`` layers the CPU profile on ``+recipe=videorft``: the project's dataset class, agent
loop ``videorft_agent`` and reward manager ``videorft``.) Metrics come back through verl's file
logger (``metrics.jsonl``, one line per step).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from verl_videorft.demo.process import DEFAULT_TIMEOUT_S, progress_line, python_module, run_logged, trainer_env


def prepare_inputs(workdir: Path, seed: int = 0, *, train_file: Path | None = None,
                   val_file: Path | None = None) -> dict[str, Path]:
    """Data and tiny models for a GRPO-only run under ``workdir`` (reused when already there).

    Without ``train_file`` the small demo set is generated (16 train, 4 val samples); a fresh tiny
    random Qwen2.5-VL and SigLIP are built. Returns ``{"train", "val", "model", "siglip"}``.
    """
    from verl_videorft.testing import build_tiny_qwen25vl, build_tiny_siglip

    workdir.mkdir(parents=True, exist_ok=True)
    if train_file is None:
        data_dir = workdir / "data"
        train = data_dir / "train.jsonl"
        if not train.is_file():
            from verl_videorft.data.demo_set import make_demo_data

            make_demo_data(data_dir, n_train=16, n_val=4, seed=seed)
        val = val_file or data_dir / "val.jsonl"
    else:
        train, val = Path(train_file).resolve(), Path(val_file or train_file).resolve()
    model = build_tiny_qwen25vl(workdir / "models" / "tiny-qwen25vl")
    siglip = build_tiny_siglip(workdir / "models" / "tiny-siglip")
    return {"train": train, "val": val if val.is_file() else train, "model": model, "siglip": siglip}


def trainer_overrides(inputs: dict[str, Path], workdir: Path, steps: int = 2, *,
                      media_root: Path | None = None) -> list[str]:
    """The Hydra overrides of a demo GRPO run (the recipe holds everything else)."""
    out = [
        "+recipe=videorft_cpu",
        f"data.train_files={inputs['train']}",
        f"data.val_files={inputs['val']}",
        f"actor_rollout_ref.model.path={inputs['model']}",
        f"++reward.videorft.semantic.encoder={inputs['siglip']}",
        f"trainer.total_training_steps={steps}",
        f"trainer.save_freq={steps}",
        f"trainer.default_local_dir={workdir / 'checkpoints'}",
        "trainer.logger=[console,file]",
    ]
    if media_root is not None:
        out.append(f"data.videorft.media_root={Path(media_root).resolve()}")
    return out


def run_trainer(overrides: list[str], workdir: Path, timeout_s: int = DEFAULT_TIMEOUT_S,
                log_path: Path | None = None, echo: bool = True) -> subprocess.CompletedProcess:
    """``python -m verl.trainer.main_ppo <overrides>`` in a subprocess, log teed to ``log_path``."""
    cmd = python_module("verl.trainer.main_ppo", *overrides)
    workdir.mkdir(parents=True, exist_ok=True)  # the pipeline's T-GRPO run starts in a fresh sub-folder
    metrics = workdir / "metrics.jsonl"
    metrics.unlink(missing_ok=True)
    code = run_logged(cmd, log_path or workdir / "train.log", env=trainer_env(workdir), cwd=workdir,
                      timeout_s=timeout_s, echo=progress_line if echo else None)
    return subprocess.CompletedProcess(cmd, code)


def read_metrics(workdir: Path, name: str = "metrics.jsonl") -> list[dict[str, Any]]:
    """Per-step metric dicts from verl's file logger (``{"step": n, **data}``)."""
    path = workdir / name
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            rows.append({"step": row.get("step"), **row.get("data", {})})
    return rows


def reward_columns(row: dict[str, Any]) -> list[str]:
    """Metric names of the step's reward: verl's summed score and each component's mean."""
    keys = [k for k in row if k.startswith("reward/") and k.endswith("/mean")]
    return [k for k in ("critic/score/mean",) if k in row] + sorted(keys)


def checkpoints(workdir: Path) -> list[Path]:
    return sorted((workdir / "checkpoints").glob("global_step_*"))


def summarize(workdir: Path) -> str:
    """Each step's timings, losses and reward components, then the checkpoint folders."""
    lines = []
    for row in read_metrics(workdir):
        lines.append(f"step {row['step']}:")
        for key in ["timing_s/step", "timing_s/gen", "timing_s/update_actor", "actor/pg_loss",
                    "actor/kl_loss", "videorft/bad_samples"] + reward_columns(row):
            if key in row:
                value = row[key]
                lines.append(f"  {key:<48} {value:.4g}" if isinstance(value, (int, float)) else f"  {key:<48} {value}")
    ckpts = checkpoints(workdir)
    lines.append(f"checkpoints: {', '.join(str(c) for c in ckpts) or 'none'}")
    return "\n".join(lines)


def pipeline_overrides(*, train: Path, val: Path, model: Path, encoder: Path, workdir: Path, g: Any,
                       profile_name: str, prompt_style: str, seed: int = 0) -> list[str]:
    """``main_ppo`` overrides of the pipeline's GRPO stage (``g``: :class:`~.settings.GRPOSettings`).

    On top of ``+recipe=videorft_cpu``: the SFT model, the trained encoder, the demo frame profile,
    all three rewards and the length bonus (window scaled to the short responses), fp32 rollout and
    training (so ``training/rollout_probs_diff_max`` measures the weights, not rounding).
    """
    a = "actor_rollout_ref"
    return trainer_overrides({"train": train, "val": val, "model": model, "siglip": encoder}, workdir, g.steps) + [
        f"data.train_batch_size={g.prompts_per_step}", f"data.max_response_length={g.max_response_length}",
        "data.max_prompt_length=512", f"data.videorft.frame_profile={profile_name}",
        f"++data.videorft.prompt_style={prompt_style}", f"data.seed={seed}",
        f"{a}.rollout.n={g.n}", f"{a}.actor.optim.lr={g.lr}", f"{a}.actor.kl_loss_coef={g.kl_coef}",
        f"{a}.actor.ppo_mini_batch_size={g.prompts_per_step}",
        f"{a}.actor.ppo_micro_batch_size_per_gpu={g.prompts_per_step * g.n // 2}",
        f"{a}.ref.log_prob_micro_batch_size_per_gpu={g.prompts_per_step * g.n // 2}",
        f"{a}.rollout.log_prob_micro_batch_size_per_gpu={g.prompts_per_step * g.n // 2}",
        f"{a}.rollout.calculate_log_probs=true",
        "reward.videorft.semantic.enable=true", "reward.videorft.length_bonus.enable=true",
        f"reward.videorft.length_bonus.min_tokens={g.length_min_tokens}",
        f"reward.videorft.length_bonus.max_tokens={g.length_max_tokens}",
        f"{a}.actor.checkpoint.save_contents=[model,hf_model]",
    ]
