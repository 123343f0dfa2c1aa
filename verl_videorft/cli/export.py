"""``videorft export``: a verl checkpoint folder → a Hugging Face model folder.

    videorft export checkpoints/sft models/sft           # latest global_step_<n> of verl's sft_trainer
    videorft export checkpoints/grpo models/grpo          # main_ppo's global_step_<n>/actor
    videorft export checkpoints/grpo/global_step_40 models/step40

The folder it writes is what ``main_ppo`` (``actor_rollout_ref.model.path``) and ``videorft eval
--model`` load. It copies verl's saved ``huggingface/`` folder when that holds weights
(``checkpoint.save_contents`` with ``hf_model``), else merges the FSDP shards with verl's model
merger (which writes bf16 weights whatever the training dtype). An existing target is replaced
only with ``--force``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from verl_videorft.errors import UsageError


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``export`` command to a ``videorft`` subparsers object; sets ``func``."""
    p = subparsers.add_parser("export", help="verl checkpoint -> Hugging Face model folder", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=Path, help="verl's trainer.default_local_dir, or one global_step_<n> in it")
    p.add_argument("out", type=Path, help="model folder to write")
    p.add_argument("--force", action="store_true", help="replace an existing OUT")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from verl_videorft.checkpoints import export_hf, has_weights, latest_step, shard_dir

    if not args.checkpoint.is_dir():
        raise UsageError(f"{args.checkpoint}: no such checkpoint folder")
    if args.out.exists() and not args.force:
        raise UsageError(f"{args.out}: already exists (give --force to replace it)")
    if args.out.resolve().is_relative_to(args.checkpoint.resolve()):
        raise UsageError(f"{args.out}: inside the checkpoint folder {args.checkpoint}; give another output path")
    try:
        source = shard_dir(latest_step(args.checkpoint))
    except FileNotFoundError as e:
        raise UsageError(str(e)) from None
    merged = not has_weights(source / "huggingface")
    out = export_hf(args.checkpoint, args.out)
    print(f"{out}: Hugging Face model from {source}")
    if merged:  # verl's FSDPModelMerger casts every shard to bf16 (fsdp_model_merger.py, verl 0.9.1)
        print(f"{out}: weights merged from the FSDP shards by verl's model merger, in bf16; for full precision "
              "save them with actor_rollout_ref.actor.checkpoint.save_contents=[model,hf_model]")
    return 0
