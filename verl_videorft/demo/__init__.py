"""``make demo``: VideoRFT's pipeline in miniature on a CPU, with verl's own trainers.

    python -m verl_videorft.demo --workdir demo_run                  # the whole pipeline
    python -m verl_videorft.demo --grpo-only --steps 2 --workdir DIR  # GRPO from a fresh tiny model

The whole pipeline (:mod:`.pipeline`): task data, tiny models, the contrastive encoder, SFT with
verl's ``sft_trainer``, GRPO with ``main_ppo +recipe=videorft_cpu``, ``videorft eval`` of each
checkpoint and the blind / shuffled controls, ``report.json`` / ``report.md`` / plots (``--tgrpo``
adds a T-GRPO run beside GRPO). ``--grpo-only`` generates the small demo set (or takes
``--train-file`` / ``--val-file`` / ``--media-root``), builds a tiny random Qwen2.5-VL and SigLIP,
runs ``main_ppo +recipe=videorft_cpu`` and prints each step's metrics. Nothing is read from outside
the installed package.

Modules: :mod:`.pipeline`, :mod:`.settings` (every size and step count, with reasons),
:mod:`.stages`, :mod:`.sft`, :mod:`.grpo`, :mod:`.evaluate`, :mod:`.report`, :mod:`.tgrpo`,
:mod:`.process` (subprocesses with a deadline).
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
