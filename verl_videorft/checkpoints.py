"""verl checkpoints → Hugging Face model folders that ``main_ppo`` and ``videorft eval`` load.

verl's trainers save ``<default_local_dir>/global_step_<n>/`` (the SFT trainer) or
``global_step_<n>/actor/`` (``main_ppo``): FSDP shards plus a ``huggingface/`` folder with the config
and processor, and, when ``checkpoint.save_contents`` includes ``hf_model``, the full weights too.
:func:`export_hf` gives a loadable folder either way: the saved ``huggingface/`` when it holds
weights, else verl's own model merger (``verl.model_merger``, FSDP backend) merges the shards.

    >>> export_hf("ckpt/sft", "models/sft")              # doctest: +SKIP
    PosixPath('models/sft')

Same as ``python -m verl.model_merger merge --backend fsdp --local_dir ckpt/sft/global_step_N
--target_dir models/sft`` plus picking the latest step and the ``actor`` sub-folder.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


def latest_step(checkpoint_dir: str | Path) -> Path:
    """The ``global_step_<n>`` folder with the largest ``n`` (``checkpoint_dir`` itself if it is one)."""
    root = Path(checkpoint_dir)
    if re.fullmatch(r"global_step_\d+", root.name):
        return root
    steps = [p for p in root.glob("global_step_*") if re.fullmatch(r"global_step_\d+", p.name) and p.is_dir()]
    if not steps:
        raise FileNotFoundError(f"{root}: no global_step_<n> folder (is this a verl checkpoint directory?)")
    return max(steps, key=lambda p: int(p.name.rsplit("_", 1)[1]))


def shard_dir(step_dir: Path) -> Path:
    """The folder holding the FSDP shards: ``actor/`` for ``main_ppo``, the step folder for SFT."""
    actor = step_dir / "actor"
    return actor if (actor / "huggingface").is_dir() or list(actor.glob("model_world_size_*")) else step_dir


def has_weights(folder: Path) -> bool:
    return any((folder / name).is_file() for name in WEIGHT_FILES)


def export_hf(checkpoint_dir: str | Path, target_dir: str | Path) -> Path:
    """Write a Hugging Face model folder (weights, config, processor, tokenizer) for the latest step."""
    source = shard_dir(latest_step(checkpoint_dir))
    target = Path(target_dir)
    saved = source / "huggingface"
    if has_weights(saved):
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(saved, target)
        return target
    from verl.model_merger.base_model_merger import ModelMergerConfig
    from verl.model_merger.fsdp_model_merger import FSDPModelMerger

    config = ModelMergerConfig(operation="merge", backend="fsdp", local_dir=str(source), target_dir=str(target),
                               hf_model_config_path=str(saved))
    FSDPModelMerger(config).merge_and_save()
    if not has_weights(target):
        raise RuntimeError(f"{source}: verl's model merger wrote no weights to {target}")
    return target
