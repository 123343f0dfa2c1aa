"""``make demo``: VideoRFT's pipeline in miniature on a CPU, with verl's own trainers.

    python -m verl_videorft.demo --workdir demo_run                  # the whole pipeline
    python -m verl_videorft.demo --grpo-only --steps 2 --workdir DIR  # GRPO from a fresh tiny model

``--grpo-only`` generates the small demo set (or takes ``--train-file`` / ``--val-file`` /
``--media-root``), builds a tiny random Qwen2.5-VL and SigLIP, runs ``main_ppo +recipe=videorft_cpu``
and prints each step's metrics. Nothing is read from outside the installed package.

Modules: :mod:`.process` (subprocesses with a deadline), :mod:`.grpo` (the GRPO stage).
"""

from verl_videorft.demo.grpo import (
    checkpoints,
    prepare_inputs,
    read_metrics,
    reward_columns,
    run_trainer,
    summarize,
    trainer_overrides,
)
from verl_videorft.demo.process import DEFAULT_TIMEOUT_S, trainer_env

__all__ = ["DEFAULT_TIMEOUT_S", "checkpoints", "prepare_inputs", "read_metrics", "reward_columns", "run_trainer",
           "summarize", "trainer_env", "trainer_overrides"]
