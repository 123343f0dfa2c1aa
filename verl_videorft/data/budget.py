"""``videorft data budget``: prompt tokens per sample (text + vision) for the train and eval profiles.

    >>> report = budget_files(["train.jsonl"], resolve_profile("train"), resolve_profile("eval"),
    ...                       max_prompt_length=4096)                          # doctest: +SKIP
    >>> report.overlong                                                         # doctest: +SKIP
    [{'where': '/data/train.jsonl:3', 'text': 61, 'train': 1021, 'eval': 5181}]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from verl_videorft.data.items import iter_items
from verl_videorft.data.media_check import probe_media, run_parallel

# pixel side of one merged vision token (2x2 patches of 14 px; Qwen3-VL 2x2 of 16 px)
MODEL_MULTIPLE = {"qwen2.5-vl": 28, "qwen2-vl": 28, "qwen3-vl": 32}
PROFILE_NAMES = ("train", "eval")


def vision_tokens(height: int, width: int, frames: int, profile, data_type: str = "video") -> int:
    """Vision tokens of one sample (Qwen-VL: merge 2×2 patches; a video's frames pair up in time),
    with the frame size the sampler gives (the per-frame cap depends on the frame count).

    >>> from verl_videorft.video import PROFILES
    >>> vision_tokens(360, 640, 300, PROFILES["train"])   # 16 frames -> 8 temporal groups x (224/28 x 420/28)
    960
    """
    from verl_videorft.video import image_size, target_size, uniform_indices

    if data_type == "image":
        h, w = image_size(height, width, profile)
        return (h // profile.size_multiple) * (w // profile.size_multiple)
    t = len(uniform_indices(frames, profile.nframes))
    h, w = target_size(height, width, profile, t)
    return (t // 2) * (h // profile.size_multiple) * (w // profile.size_multiple)


def profile_warnings(train, evalp, model: str) -> list[str]:
    """Size multiples that do not fit the model, and every field where train and eval differ."""
    multiple = MODEL_MULTIPLE[model]
    warnings = [f"{name} profile has size_multiple {prof.size_multiple}, but {model} needs {multiple}"
                for name, prof in zip(PROFILE_NAMES, (train, evalp)) if prof.size_multiple != multiple]
    t, e = train.to_dict(), evalp.to_dict()
    diff = [f"{k} {v} vs {e[k]}" for k, v in t.items() if e[k] != v]
    if diff:
        warnings.append("train and eval frame profiles differ: " + ", ".join(diff)
                        + " (reported numbers depend on both; state them)")
    return warnings


def text_counter(tokenizer: str | None) -> Callable[[str], int]:
    """Exact text tokens with ``tokenizer`` (a path or hub name), else the chars/4 estimate."""
    if tokenizer is None:
        return lambda text: (len(text) + 3) // 4
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tokenizer)
    return lambda text: len(tok(text)["input_ids"])


@dataclass
class BudgetReport:
    rows: list[dict[str, Any]] = field(default_factory=list)      # {"where", "text", "train", "eval"}
    overlong: list[dict[str, Any]] = field(default_factory=list)  # rows over a limit, with "profile"
    unreadable: list[str] = field(default_factory=list)           # "file:line: reason"

    def summary(self, name: str) -> tuple[int, int, int]:
        vals = sorted(r[name] for r in self.rows)
        return vals[0], vals[len(vals) // 2], vals[-1]


def budget_files(inputs: list[str], train, evalp, *, max_prompt_length: int, eval_max_prompt_length: int | None = None,
                 media_root: str | None = None, count_text: Callable[[str], int] | None = None,
                 template_tokens: int = 30, workers: int = 1, quiet: bool = True) -> BudgetReport:
    """Prompt tokens of every sample under both profiles; a sample over its profile's limit is overlong."""
    from verl_videorft.prompts import build_question

    count_text = count_text or text_counter(None)
    limits = {"train": max_prompt_length, "eval": eval_max_prompt_length or max_prompt_length}
    items = list(iter_items(inputs, media_root))
    media = sorted({it.media for it in items if it.media})
    probes = {p: (err, info) for p, err, info in run_parallel(probe_media, media, workers, "probe media", quiet)}
    report = BudgetReport()
    for it in items:
        err = it.error or probes[it.media][0]
        if err:
            report.unreadable.append(f"{it.where}: {err}")
            continue
        info = probes[it.media][1]
        text = count_text(build_question(it.record)) + template_tokens
        row = {"where": it.where, "text": text}
        try:
            for name, prof in zip(PROFILE_NAMES, (train, evalp)):
                row[name] = text + vision_tokens(info["height"], info["width"], info["frames"], prof,
                                                 it.record.get("data_type", "video"))
        except ValueError as e:  # a one-frame video (TooFewFrames)
            report.unreadable.append(f"{it.where}: {e}")
            continue
        report.rows.append(row)
        report.overlong.extend({**row, "profile": name, "limit": limits[name]}
                               for name in PROFILE_NAMES if row[name] > limits[name])
    return report
