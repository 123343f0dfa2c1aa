"""Train the semantic reward's image-text encoder on your own clips and captions (SigLIP loss).

The semantic reward scores ``cos(t, mean_f v_f)``: a think text against the mean of the clip's frame
embeddings (:func:`verl_videorft.rewards.semantic.semantic_scores`). An encoder that has never seen
your kind of video measures noise there. This fine-tunes any SigLIP / CLIP ``AutoModel`` on
``(clip, caption)`` pairs with SigLIP's pairwise sigmoid loss on exactly that quantity: frames from
:func:`verl_videorft.video.sample_frames` with the rollout's frame profile, texts tokenised as the
reward's encoder tokenises them (:class:`verl_videorft.rewards.encoders.HFEncoder`), each clip
embedded as the normalised mean of its normalised frame embeddings.

    >>> pairs = read_caption_pairs("captions.jsonl")                         # doctest: +SKIP
    >>> train_encoder("/models/siglip", pairs, "/models/siglip-mine", profile="train")  # doctest: +SKIP
    {'steps': 200, 'loss_first': 1.9, 'loss_last': 0.05, 'seconds': 12.3}
    >>> caption_auc("/models/siglip-mine", held_out, profile="train")        # doctest: +SKIP
    0.97

A captions file is JSON Lines (or a JSON array) of ``{"path": clip, "caption": text}``; a relative
``path`` is taken from ``media_root`` (default: the file's folder), as for training records, so a
training-records file whose records carry a ``caption`` works as it is.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class CaptionPair:
    """One clip (absolute path) and a caption of what its frames show."""

    path: str
    caption: str


def read_caption_pairs(path: str | Path, media_root: str | Path | None = None) -> list[CaptionPair]:
    """``(clip, caption)`` pairs of a JSONL / JSON file; one-line ``ValueError`` naming file:line."""
    p = Path(path)
    root = Path(media_root) if media_root is not None else p.parent
    text = p.read_text(encoding="utf-8")
    rows = json.loads(text) if text.lstrip().startswith("[") else [
        (n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    pairs = []
    for n, row in enumerate(rows, 1):
        if isinstance(row, tuple):
            n, line = row
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{p}:{n}: invalid JSON ({e.msg})") from None
        if not isinstance(row, dict) or not isinstance(row.get("path"), str) or not isinstance(row.get("caption"), str):
            raise ValueError(f"{p}:{n}: a caption record needs string fields 'path' and 'caption'")
        pairs.append(CaptionPair(str((root / row["path"]).resolve()), row["caption"]))
    return pairs


def clip_frames(pairs: list[CaptionPair], profile: Any) -> list[np.ndarray]:
    """Each clip's frames as the reward sees them (same sampler, same profile)."""
    from verl_videorft.video import sample_frames

    return [np.ascontiguousarray(sample_frames(p.path, profile)[0]) for p in pairs]


class _Towers:
    """The encoder's model, tokeniser and image processor, used as the reward's ``HFEncoder`` uses them."""

    def __init__(self, name_or_path: str):
        from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

        self.model = AutoModel.from_pretrained(name_or_path)
        self.tokenizer = AutoTokenizer.from_pretrained(name_or_path)
        self.image_processor = AutoImageProcessor.from_pretrained(name_or_path)
        text_cfg = getattr(self.model.config, "text_config", self.model.config)
        self.max_length = int(getattr(text_cfg, "max_position_embeddings", 64))
        self.is_siglip = getattr(self.model.config, "model_type", "").startswith("siglip")

    def texts(self, texts: list[str]):
        import torch.nn.functional as F

        batch = self.tokenizer(texts, padding="max_length", truncation=True, max_length=self.max_length,
                               return_tensors="pt")
        keys = ("input_ids",) if self.is_siglip else ("input_ids", "attention_mask")
        out = self.model.get_text_features(**{k: batch[k] for k in keys if k in batch})
        return F.normalize(getattr(out, "pooler_output", out), dim=-1)

    def pixels(self, clip: np.ndarray):
        """The image processor's ``pixel_values`` of one clip's frames (computed once per clip)."""
        return self.image_processor(images=[np.array(f) for f in clip], return_tensors="pt")["pixel_values"]

    def clips(self, pixels: list):
        """``[N, D]``: normalised mean of each clip's normalised frame embeddings."""
        import torch
        import torch.nn.functional as F

        out = self.model.get_image_features(pixel_values=torch.cat(pixels))
        emb = F.normalize(getattr(out, "pooler_output", out), dim=-1)
        means = torch.stack([chunk.mean(0) for chunk in emb.split([len(p) for p in pixels])])
        return F.normalize(means, dim=-1)


def sigmoid_loss(text_emb, clip_emb, same, scale, bias):
    """SigLIP's pairwise loss; ``same[i, j]`` marks pairs that are positives (equal captions)."""
    import torch.nn.functional as F

    logits = text_emb @ clip_emb.T * scale.exp() + bias
    labels = same.float() * 2 - 1
    return -F.logsigmoid(labels * logits).sum() / len(text_emb)


def train_encoder(encoder: str | Path, pairs: list[CaptionPair], out_dir: str | Path, *, profile: Any = "train",
                  steps: int = 200, batch_size: int = 32, lr: float = 1e-3, seed: int = 0) -> dict[str, float]:
    """Fine-tune ``encoder`` on ``pairs`` and save it (model, tokenizer, processor) to ``out_dir``.

    Returns the first and last loss (mean of the last 10 steps), the step count and the seconds taken.
    """
    import torch

    if len(pairs) < 2:
        raise ValueError(f"contrastive training needs at least 2 caption pairs, got {len(pairs)}")
    torch.manual_seed(seed)
    rng = random.Random(seed)
    t0 = time.perf_counter()
    towers = _Towers(str(encoder))
    pixels = [towers.pixels(c) for c in clip_frames(pairs, profile)]
    # The reward scores plain cosines, so the logit scale and bias are training aids only: our own,
    # started where SigLIP starts them (scale 10, bias -10); a freshly initialised model has both at 0,
    # where the sigmoid loss hardly moves the embeddings.
    scale = torch.nn.Parameter(torch.tensor(float(np.log(10.0))))
    bias = torch.nn.Parameter(torch.tensor(-10.0))
    opt = torch.optim.AdamW([*towers.model.parameters(), scale, bias], lr=lr, weight_decay=0.0)
    towers.model.train()
    losses = []
    for _ in range(steps):
        idx = rng.sample(range(len(pairs)), min(batch_size, len(pairs)))
        captions = [pairs[i].caption for i in idx]
        same = torch.tensor([[a == b for b in captions] for a in captions])
        loss = sigmoid_loss(towers.texts(captions), towers.clips([pixels[i] for i in idx]), same, scale, bias)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    towers.model.eval()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    towers.model.save_pretrained(out)
    towers.tokenizer.save_pretrained(out)
    towers.image_processor.save_pretrained(out)
    return {"steps": steps, "loss_first": losses[0], "loss_last": float(np.mean(losses[-10:])),
            "seconds": time.perf_counter() - t0}


def roc_auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """Probability that a positive scores above a negative (ties count half).

    >>> roc_auc(np.array([0.9, 0.8]), np.array([0.1, 0.85]))
    0.75
    """
    pos, neg = np.asarray(positive, dtype=float), np.asarray(negative, dtype=float)
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def caption_auc(encoder: str | Path, pairs: list[CaptionPair], *, profile: Any = "train") -> float:
    """AUC of matching over mismatching captions, scored as the semantic reward scores them.

    Every clip against its own caption (positive) and against every other clip's caption that is
    worded differently (negative); cosine of the reward's encoder embeddings.
    """
    from verl_videorft.rewards.encoders import HFEncoder

    enc = HFEncoder(str(encoder))
    clips = clip_frames(pairs, profile)
    captions = [p.caption for p in pairs]
    text = enc.encode_texts(captions)
    mean = np.stack([enc.encode_images(c).mean(0) for c in clips])
    mean /= np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)
    cos = text @ mean.T  # [caption, clip]
    same = np.array([[a == b for b in captions] for a in captions])
    return roc_auc(np.diag(cos), cos[~same])
