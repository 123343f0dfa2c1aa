"""The pipeline's first stages: data, tiny models, the semantic encoder trained on the clips' captions."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from verl_videorft.demo.settings import DEMO_PROFILE, DemoSettings


def make_data(workdir: Path, s: DemoSettings) -> dict[str, Path]:
    """The task set (train = RL records, test = held-out benchmark) and the SFT CoT records."""
    from verl_videorft.data.demo_tasks import make_task_set

    data = workdir / "data"
    paths = make_task_set(data, n_train=s.n_train, n_test=s.n_test, seed=s.seed,
                          size=int(DEMO_PROFILE["max_pixels"] ** 0.5))
    records = [json.loads(line) for line in paths["train"].read_text().splitlines()]
    if s.cot_per_task is not None:
        records = first_per_task(records, s.cot_per_task)
    paths["cot"] = data / "cot.jsonl"
    paths["cot"].write_text("".join(json.dumps(r) + "\n" for r in records))
    return paths


def first_per_task(records: list[dict[str, Any]], k: int) -> list[dict[str, Any]]:
    """The first ``k`` records of each task, in file order.

    >>> [r["i"] for r in first_per_task([{"task": "a", "i": 0}, {"task": "a", "i": 1}, {"task": "b", "i": 2}], 1)]
    [0, 2]
    """
    counts: Counter[str] = Counter()
    out = []
    for record in records:
        counts[record["task"]] += 1
        if counts[record["task"]] <= k:
            out.append(record)
    return out


def build_models(workdir: Path, s: DemoSettings) -> dict[str, Path]:
    """A tiny random Qwen2.5-VL (the base checkpoint) and a tiny random SigLIP, both with the task words."""
    from verl_videorft.data.demo_tasks import vocabulary
    from verl_videorft.testing import build_tiny_qwen25vl, build_tiny_siglip

    m, words = s.model, vocabulary()
    base = build_tiny_qwen25vl(workdir / "models" / "base", hidden_size=m.hidden_size, num_layers=m.num_layers,
                               vision_hidden_size=m.vision_hidden_size, vision_depth=m.vision_depth,
                               vocab_size=m.vocab_size, extra_text=words, seed=s.seed)
    siglip = build_tiny_siglip(workdir / "models" / "siglip_random", image_size=m.encoder_image_size,
                               vocab_size=m.vocab_size, extra_text=words, seed=s.seed)
    return {"base": base, "siglip_random": siglip}


def train_semantic_encoder(workdir: Path, data: dict[str, Path], encoder: Path, s: DemoSettings) -> dict[str, Any]:
    """SigLIP loss on the training clips' frames ↔ captions; AUC on held-out clips before and after."""
    from verl_videorft.rewards.contrastive import caption_auc, read_caption_pairs, train_encoder

    train, test = read_caption_pairs(data["train"])[:s.encoder_pairs], read_caption_pairs(data["test"])
    out = workdir / "models" / "siglip"
    stats = train_encoder(encoder, train, out, profile=DEMO_PROFILE, steps=s.encoder_steps, lr=s.encoder_lr,
                          seed=s.seed)
    return {"model": out, "auc_before": caption_auc(encoder, test, profile=DEMO_PROFILE),
            "auc": caption_auc(out, test, profile=DEMO_PROFILE), **stats}
