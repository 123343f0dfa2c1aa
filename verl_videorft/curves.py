"""Training curves from verl's metric logs: read the file logger's JSONL, pick metrics, plot them.

verl's ``file`` logger (``trainer.logger=[console,file]``) appends one line per step to
``$VERL_FILE_LOGGER_PATH`` (default ``<project>/<experiment>.jsonl``): ``{"step": n, "data": {...}}``.
``videorft plot`` draws chosen metrics against the step, one panel per metric.

    >>> rows = [{"step": 1, "reward/acc/mean": 0.25}, {"step": 2, "reward/acc/mean": 0.5}]
    >>> select_keys(rows, ["reward/*/mean"])
    ['reward/acc/mean']
    >>> series(rows, "reward/acc/mean")
    ([1, 2], [0.25, 0.5])

Presets name the usual sets: ``rewards`` (every reward component's mean, and verl's total score),
``rollout`` (rollout-vs-actor probability gap), ``loss``, ``timing``.
"""

from __future__ import annotations

import fnmatch
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PRESETS: dict[str, tuple[str, ...]] = {
    "rewards": ("critic/score/mean", "reward/*/mean"),
    "rollout": ("training/rollout_probs_diff_max", "training/rollout_probs_diff_mean", "rollout_corr/k3_kl"),
    "loss": ("actor/pg_loss", "actor/kl_loss", "actor/entropy", "actor/grad_norm"),
    "timing": ("timing_s/step", "timing_s/gen", "timing_s/update_actor"),
}


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """One dict per logged step, ``{"step": n, **metrics}``; a torn last line (a run still writing) is skipped.

    Raises ``ValueError`` naming ``file:line`` for a line that is neither JSON nor the last one.
    """
    p = Path(path)
    lines = p.read_text(encoding="utf-8").splitlines()
    rows = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            if n == len(lines):
                break
            raise ValueError(f"{p}:{n}: not a verl file-logger line ({e.msg})") from None
        if not isinstance(row, dict) or not isinstance(row.get("data"), dict):
            raise ValueError(f"{p}:{n}: expected {{\"step\": n, \"data\": {{...}}}} (verl's file logger)")
        rows.append({"step": row.get("step"), **row["data"]})
    return rows


def select_keys(rows: Sequence[dict[str, Any]], patterns: Sequence[str]) -> list[str]:
    """Metric names matching any pattern (``fnmatch`` globs or preset names), in pattern order."""
    seen = {k for row in rows for k, v in row.items() if k != "step" and _number(v) is not None}
    out: list[str] = []
    for pattern in patterns:
        for pat in PRESETS.get(pattern, (pattern,)):
            for key in sorted(k for k in seen if fnmatch.fnmatchcase(k, pat)):
                if key not in out:
                    out.append(key)
    return out


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def series(rows: Sequence[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    """``(steps, values)`` of one metric, skipping steps where it is missing or not finite."""
    steps, values = [], []
    for row in rows:
        value = _number(row.get(key))
        if value is not None and row.get("step") is not None:
            steps.append(int(row["step"]))
            values.append(value)
    return steps, values


def plot_metrics(rows: Sequence[dict[str, Any]], keys: Sequence[str], out_png: str | Path, *,
                 title: str = "", columns: int = 3, log_keys: Sequence[str] = ()) -> Path:
    """One panel per metric against the step; ``log_keys`` get a log y axis. Returns the PNG path."""
    import matplotlib

    matplotlib.use("Agg")  # headless: no display on training nodes or CI
    import matplotlib.pyplot as plt

    if not keys:
        raise ValueError("no metrics to plot")
    cols = min(columns, len(keys))
    nrows = math.ceil(len(keys) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 2.8 * nrows), squeeze=False)
    for ax, key in zip(axes.flat, keys):
        steps, values = series(rows, key)
        ax.plot(steps, values, marker="o" if len(steps) < 40 else None, markersize=3)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        if key in log_keys and values and min(values) > 0:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(keys):]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
